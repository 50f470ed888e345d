using System.Buffers.Binary;
using System.Text;
using System.Threading.Channels;

namespace Ecrm.Collector.Spooling;

/// <summary>A position in the spool: a segment and a byte offset within it.</summary>
public readonly record struct SpoolPosition(long Segment, long Offset);

public sealed record SpooledEvent(string Key, byte[] Value, SpoolPosition Next);

/// <summary>
/// A local append-only log for events the collector acknowledged while Kafka was unreachable.
/// Appends are written and fsync'd in groups (one fsync for every append waiting at that moment);
/// an append completes only after its fsync. Records carry a CRC, so a record torn by a crash is
/// cut off at recovery, and the replay position is kept in a checkpoint file.
/// Record layout: length (4 bytes, of what follows the CRC) | CRC-32 | key length (2) | key | value.
/// </summary>
public sealed class EventSpool : IAsyncDisposable
{
    private const long SegmentBytes = 64L * 1024 * 1024;
    private const string CheckpointFile = "checkpoint";
    private readonly string _directory;
    private readonly long _maxBytes;
    private readonly Channel<PendingAppend> _appends = Channel.CreateUnbounded<PendingAppend>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _writer;
    private readonly Lock _lock = new();
    private FileStream _segment;
    private int _disposed;
    private long _segmentId;
    private SpoolPosition _readPosition;
    private long _pendingBytes;

    public EventSpool(string directory, long maxBytes)
    {
        _directory = directory;
        _maxBytes = maxBytes;
        Directory.CreateDirectory(directory);
        _readPosition = ReadCheckpoint();
        var segments = SegmentIds();
        _segmentId = segments.Count > 0 ? segments[^1] : Math.Max(1, _readPosition.Segment);
        foreach (var id in segments)
        {
            var valid = ValidLength(SegmentPath(id));
            if (id == _segmentId)
            {
                // Cut off a record torn by a crash: it was never acknowledged.
                using var file = new FileStream(SegmentPath(id), FileMode.Open, FileAccess.Write);
                file.SetLength(valid);
            }

            _pendingBytes += id < _readPosition.Segment ? 0 : id == _readPosition.Segment ? Math.Max(0, valid - _readPosition.Offset) : valid;
        }

        if (_readPosition.Segment == 0)
        {
            _readPosition = new SpoolPosition(segments.Count > 0 ? segments[0] : _segmentId, 0);
        }

        _segment = OpenForAppend(_segmentId);
        _writer = Task.Run(WriteLoopAsync);
    }

    /// <summary>Bytes appended but not yet replayed.</summary>
    public long PendingBytes => Interlocked.Read(ref _pendingBytes);

    public bool IsEmpty => PendingBytes == 0;

    /// <summary>Appends events and waits for their fsync. False when the spool is full: nothing was written.</summary>
    public async Task<bool> AppendAsync(IReadOnlyList<KeyValuePair<string, byte[]>> events, CancellationToken cancellationToken)
    {
        var records = events.Select(e => Encode(e.Key, e.Value)).ToArray();
        var size = records.Sum(r => (long)r.Length);
        lock (_lock)
        {
            if (_pendingBytes + size > _maxBytes)
            {
                return false;
            }

            _pendingBytes += size;
        }

        var pending = new PendingAppend(records, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        await _appends.Writer.WriteAsync(pending, cancellationToken);
        await pending.Written.Task;
        return true;
    }

    /// <summary>Reads up to <paramref name="max"/> events from the replay position, oldest first.</summary>
    public List<SpooledEvent> Read(int max)
    {
        var events = new List<SpooledEvent>();
        var position = _readPosition;
        while (events.Count < max)
        {
            var path = SegmentPath(position.Segment);
            if (!File.Exists(path))
            {
                break;
            }

            using (var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
            {
                file.Position = position.Offset;
                while (events.Count < max && TryReadRecord(file, out var key, out var value))
                {
                    position = position with { Offset = file.Position };
                    events.Add(new SpooledEvent(key, value, position));
                }
            }

            if (events.Count >= max || position.Segment >= Volatile.Read(ref _segmentId))
            {
                break;
            }

            position = new SpoolPosition(position.Segment + 1, 0);
        }

        return events;
    }

    /// <summary>Marks everything before <paramref name="next"/> as replayed: checkpointed, and whole segments deleted.</summary>
    public void Commit(SpoolPosition next, long replayedBytes)
    {
        var checkpoint = Path.Combine(_directory, CheckpointFile);
        var buffer = new byte[16];
        BinaryPrimitives.WriteInt64LittleEndian(buffer, next.Segment);
        BinaryPrimitives.WriteInt64LittleEndian(buffer.AsSpan(8), next.Offset);
        using (var file = new FileStream(checkpoint + ".tmp", FileMode.Create, FileAccess.Write))
        {
            file.Write(buffer);
            file.Flush(flushToDisk: true);
        }

        File.Move(checkpoint + ".tmp", checkpoint, overwrite: true);
        _readPosition = next;
        Interlocked.Add(ref _pendingBytes, -replayedBytes);
        foreach (var id in SegmentIds().Where(id => id < next.Segment))
        {
            File.Delete(SegmentPath(id));
        }
    }

    public static long RecordSize(SpooledEvent spooled) => 10 + Encoding.UTF8.GetByteCount(spooled.Key) + spooled.Value.Length;

    public async ValueTask DisposeAsync()
    {
        // The host may stop the log twice at once (application stop and test-host disposal); two
        // concurrent disposals of the segment stream race inside FileStream.
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        _appends.Writer.TryComplete();
        await _writer;
        await _segment.DisposeAsync();
    }

    private async Task WriteLoopAsync()
    {
        var group = new List<PendingAppend>();
        while (await _appends.Reader.WaitToReadAsync())
        {
            group.Clear();
            while (_appends.Reader.TryRead(out var pending))
            {
                group.Add(pending);
            }

            try
            {
                foreach (var pending in group)
                {
                    foreach (var record in pending.Records)
                    {
                        if (_segment.Length + record.Length > SegmentBytes && _segment.Length > 0)
                        {
                            _segment.Flush(flushToDisk: true);
                            await _segment.DisposeAsync();
                            _segment = OpenForAppend(Interlocked.Increment(ref _segmentId));
                        }

                        _segment.Write(record);
                    }
                }

                // One fsync for the whole group: this is what makes the acknowledgement durable.
                _segment.Flush(flushToDisk: true);
                group.ForEach(p => p.Written.TrySetResult());
            }
            catch (IOException e)
            {
                group.ForEach(p => p.Written.TrySetException(e));
            }
        }
    }

    private static byte[] Encode(string key, byte[] value)
    {
        var keyBytes = Encoding.UTF8.GetBytes(key);
        var record = new byte[10 + keyBytes.Length + value.Length];
        BinaryPrimitives.WriteInt32LittleEndian(record, 2 + keyBytes.Length + value.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(record.AsSpan(8), (ushort)keyBytes.Length);
        keyBytes.CopyTo(record, 10);
        value.CopyTo(record, 10 + keyBytes.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(4), Crc32.Compute(record.AsSpan(8)));
        return record;
    }

    private static bool TryReadRecord(FileStream file, out string key, out byte[] value)
    {
        key = "";
        value = [];
        Span<byte> header = stackalloc byte[8];
        var start = file.Position;
        if (file.Read(header) < 8)
        {
            file.Position = start;
            return false;
        }

        var length = BinaryPrimitives.ReadInt32LittleEndian(header);
        if (length < 2 || length > 64 * 1024 * 1024 || file.Length - file.Position < length)
        {
            file.Position = start;
            return false;
        }

        var body = new byte[length];
        file.ReadExactly(body);
        if (Crc32.Compute(body) != BinaryPrimitives.ReadUInt32LittleEndian(header[4..]))
        {
            file.Position = start;
            return false;
        }

        var keyLength = BinaryPrimitives.ReadUInt16LittleEndian(body);
        key = Encoding.UTF8.GetString(body, 2, keyLength);
        value = body[(2 + keyLength)..];
        return true;
    }

    private static long ValidLength(string path)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        while (TryReadRecord(file, out _, out _))
        {
        }

        return file.Position;
    }

    private SpoolPosition ReadCheckpoint()
    {
        var path = Path.Combine(_directory, CheckpointFile);
        if (!File.Exists(path))
        {
            return default;
        }

        var bytes = File.ReadAllBytes(path);
        return bytes.Length == 16 ? new SpoolPosition(BinaryPrimitives.ReadInt64LittleEndian(bytes), BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(8))) : default;
    }

    private List<long> SegmentIds() =>
        Directory.GetFiles(_directory, "segment-*.log")
            .Select(p => long.TryParse(Path.GetFileNameWithoutExtension(p)["segment-".Length..], out var id) ? id : -1)
            .Where(id => id > 0)
            .Order()
            .ToList();

    private string SegmentPath(long id) => Path.Combine(_directory, $"segment-{id:D10}.log");

    private FileStream OpenForAppend(long id) => new(SegmentPath(id), FileMode.Append, FileAccess.Write, FileShare.Read | FileShare.Delete, 64 * 1024);

    private sealed record PendingAppend(byte[][] Records, TaskCompletionSource Written);
}

/// <summary>CRC-32 (IEEE), enough to recognise a torn record.</summary>
internal static class Crc32
{
    private static readonly uint[] Table = Enumerable.Range(0, 256).Select(n =>
    {
        var c = (uint)n;
        for (var k = 0; k < 8; k++)
        {
            c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
        }

        return c;
    }).ToArray();

    public static uint Compute(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data)
        {
            crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }

        return ~crc;
    }
}
