using System.Buffers;
using System.IO.Compression;
using Ecrm.Common.Hosting;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Ecrm.Collector.Ingestion;

/// <summary>
/// An ingestion request's body as JSON bytes: as sent, or inflated when it is gzip (the mobile SDKs
/// send <c>Content-Encoding: gzip</c>). Either the bytes or the problem to answer with.
/// </summary>
public readonly record struct BodyRead(byte[]? Bytes, ProblemHttpResult? Problem);

public static class EncodedBody
{
    private const int ChunkBytes = 16 * 1024;

    /// <summary>
    /// Reads the body with <paramref name="limit"/> on its size as sent and, for gzip, on its inflated size:
    /// inflating stops as soon as the output passes the limit, so a small bomb never costs more than the limit.
    /// </summary>
    public static async Task<BodyRead> ReadAsync(HttpRequest request, int limit, CancellationToken cancellationToken)
    {
        var encoding = request.Headers.ContentEncoding.ToString().Trim();
        var gzip = encoding.Equals("gzip", StringComparison.OrdinalIgnoreCase) || encoding.Equals("x-gzip", StringComparison.OrdinalIgnoreCase);
        if (!gzip && encoding.Length > 0 && !encoding.Equals("identity", StringComparison.OrdinalIgnoreCase))
        {
            return Fail(StatusCodes.Status415UnsupportedMediaType, $"Content-Encoding '{encoding}' is not supported: send the body as it is, or gzip");
        }

        var body = await RequestBody.ReadAsync(request, limit, cancellationToken);
        if (body is null)
        {
            return Fail(StatusCodes.Status413PayloadTooLarge, $"request body is over the {limit}-byte limit");
        }

        // JSON never starts with 0x1f: a gzip body whose header a proxy dropped is still recognised.
        if (!gzip && body is not [0x1f, 0x8b, ..])
        {
            return new BodyRead(body, null);
        }

        return Inflate(body, limit);
    }

    private static BodyRead Inflate(byte[] compressed, int limit)
    {
        var output = ArrayPool<byte>.Shared.Rent(Math.Min(limit + 1, Math.Max(ChunkBytes, compressed.Length * 4)));
        try
        {
            using var gzip = new GZipStream(new MemoryStream(compressed), CompressionMode.Decompress);
            var length = 0;
            while (true)
            {
                if (length == output.Length)
                {
                    var larger = ArrayPool<byte>.Shared.Rent(Math.Min(limit + 1, output.Length * 2));
                    output.AsSpan(0, length).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(output);
                    output = larger;
                }

                // Never ask for more than one byte past the limit: that byte is what tells a bomb.
                var read = gzip.Read(output, length, Math.Min(output.Length, limit + 1) - length);
                if (read == 0)
                {
                    return new BodyRead(output.AsSpan(0, length).ToArray(), null);
                }

                length += read;
                if (length > limit)
                {
                    return Fail(StatusCodes.Status413PayloadTooLarge, $"the gzip body inflates to more than the {limit}-byte limit");
                }
            }
        }
        catch (InvalidDataException e)
        {
            return Fail(StatusCodes.Status400BadRequest, $"the body is neither JSON nor gzip of JSON: it does not inflate ({e.Message})");
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(output);
        }
    }

    private static BodyRead Fail(int status, string detail) => new(null, TypedResults.Problem(detail, statusCode: status));
}
