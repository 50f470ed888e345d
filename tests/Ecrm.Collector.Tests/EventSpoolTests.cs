using System.Text;
using Ecrm.Collector.Spooling;
using Xunit;

namespace Ecrm.Collector.Tests;

/// <summary>The on-disk spool, on a real file system.</summary>
public sealed class EventSpoolTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("ecrm-spool-test-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task AppendedEventsAreReadBackInOrderAndSurviveReopening()
    {
        await using (var spool = new EventSpool(_directory, 1 << 20))
        {
            Assert.True(await spool.AppendAsync(Events(0, 3), CancellationToken.None));
            Assert.True(await spool.AppendAsync(Events(3, 2), CancellationToken.None));
        }

        await using var reopened = new EventSpool(_directory, 1 << 20);
        var read = reopened.Read(100);

        Assert.Equal(["k0", "k1", "k2", "k3", "k4"], read.Select(e => e.Key));
        Assert.Equal("v3", Encoding.UTF8.GetString(read[3].Value));
        Assert.False(reopened.IsEmpty);
    }

    [Fact]
    public async Task CommittedEventsAreNotReadAgainAfterReopening()
    {
        await using (var spool = new EventSpool(_directory, 1 << 20))
        {
            await spool.AppendAsync(Events(0, 4), CancellationToken.None);
            var firstTwo = spool.Read(2);
            spool.Commit(firstTwo[^1].Next, firstTwo.Sum(EventSpool.RecordSize));
        }

        await using var reopened = new EventSpool(_directory, 1 << 20);
        var rest = reopened.Read(100);

        Assert.Equal(["k2", "k3"], rest.Select(e => e.Key));
        reopened.Commit(rest[^1].Next, rest.Sum(EventSpool.RecordSize));
        Assert.True(reopened.IsEmpty);
    }

    [Fact]
    public async Task RecordTornByACrashIsCutOffAtRecovery()
    {
        await using (var spool = new EventSpool(_directory, 1 << 20))
        {
            await spool.AppendAsync(Events(0, 2), CancellationToken.None);
        }

        // A crash mid-write leaves half a record behind; it was never acknowledged.
        var segment = Directory.GetFiles(_directory, "segment-*.log").Single();
        await File.AppendAllTextAsync(segment, "\u0020\0\0\0garbage");

        await using var reopened = new EventSpool(_directory, 1 << 20);
        await reopened.AppendAsync(Events(2, 1), CancellationToken.None);

        Assert.Equal(["k0", "k1", "k2"], reopened.Read(100).Select(e => e.Key));
    }

    [Fact]
    public async Task FullSpoolRefusesAndWritesNothing()
    {
        await using var spool = new EventSpool(_directory, 40);

        Assert.True(await spool.AppendAsync(Events(0, 1), CancellationToken.None));
        Assert.False(await spool.AppendAsync(Events(1, 3), CancellationToken.None));

        Assert.Single(spool.Read(100));
    }

    private static List<KeyValuePair<string, byte[]>> Events(int first, int count) =>
        Enumerable.Range(first, count).Select(i => new KeyValuePair<string, byte[]>($"k{i}", Encoding.UTF8.GetBytes($"v{i}"))).ToList();
}
