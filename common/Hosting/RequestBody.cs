using System.Buffers;
using Microsoft.AspNetCore.Http;

namespace Ecrm.Common.Hosting;

/// <summary>Reads request bodies with a size limit, for the endpoints that take raw bodies.</summary>
public static class RequestBody
{
    /// <summary>Reads the whole body, or returns null as soon as it is known to exceed the limit.</summary>
    public static async Task<byte[]?> ReadAsync(HttpRequest request, int limit, CancellationToken cancellationToken)
    {
        if (request.ContentLength > limit)
        {
            return null;
        }

        var buffer = ArrayPool<byte>.Shared.Rent(Math.Min(limit + 1, (int?)request.ContentLength + 1 ?? 16 * 1024));
        try
        {
            var length = 0;
            while (true)
            {
                if (length == buffer.Length)
                {
                    if (length > limit)
                    {
                        return null;
                    }

                    var larger = ArrayPool<byte>.Shared.Rent(Math.Min(limit + 1, buffer.Length * 2));
                    buffer.AsSpan(0, length).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }

                var read = await request.Body.ReadAsync(buffer.AsMemory(length), cancellationToken);
                if (read == 0)
                {
                    break;
                }

                length += read;
                if (length > limit)
                {
                    return null;
                }
            }

            return buffer.AsSpan(0, length).ToArray();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
