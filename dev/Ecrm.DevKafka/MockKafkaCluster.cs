using System.Runtime.InteropServices;
using System.Text;
using Ecrm.Common.Kafka;

namespace Ecrm.DevKafka;

/// <summary>
/// librdkafka's in-process mock cluster, reached through its C API. Its brokers listen on random
/// loopback ports; <see cref="BootstrapServers"/> is what other processes connect to. It runs on the
/// librdkafka bundled in librdkafka.redist, the same library every Ecrm Kafka client is bound to.
/// </summary>
public sealed partial class MockKafkaCluster : IDisposable
{
    // Resolved by KafkaNativeLibrary to the bundled library, never to the operating system's.
    private const string Library = "librdkafka";
    private readonly IntPtr _handle;
    private readonly IntPtr _cluster;
    private bool _disposed;

    static MockKafkaCluster() => KafkaNativeLibrary.Install(typeof(MockKafkaCluster).Assembly);

    public MockKafkaCluster(int brokerCount)
    {
        // The owning producer never connects anywhere; it only hosts the cluster's threads.
        var error = new byte[512];
        _handle = rd_kafka_new(0, rd_kafka_conf_new(), error, error.Length);
        if (_handle == IntPtr.Zero)
        {
            throw new InvalidOperationException($"rd_kafka_new failed: {Encoding.UTF8.GetString(error).TrimEnd('\0')}");
        }

        _cluster = rd_kafka_mock_cluster_new(_handle, brokerCount);
        if (_cluster == IntPtr.Zero)
        {
            rd_kafka_destroy(_handle);
            throw new InvalidOperationException("rd_kafka_mock_cluster_new failed");
        }

        BrokerCount = brokerCount;
        BootstrapServers = Marshal.PtrToStringUTF8(rd_kafka_mock_cluster_bootstraps(_cluster)) ?? "";
    }

    public string BootstrapServers { get; }

    public int BrokerCount { get; }

    public void CreateTopic(string topic, int partitions, int replicationFactor) =>
        Check(rd_kafka_mock_topic_create(_cluster, topic, partitions, replicationFactor), $"create topic {topic}");

    /// <summary>Takes a broker down (connections closed, new ones refused) or brings it back; ids are 1-based.</summary>
    public void SetBrokerDown(int brokerId, bool down) =>
        Check(down ? rd_kafka_mock_broker_set_down(_cluster, brokerId) : rd_kafka_mock_broker_set_up(_cluster, brokerId), $"broker {brokerId} {(down ? "down" : "up")}");

    /// <summary>Adds round-trip latency to every request a broker answers.</summary>
    public void SetBrokerRoundTrip(int brokerId, TimeSpan roundTrip) =>
        Check(rd_kafka_mock_broker_set_rtt(_cluster, brokerId, (int)roundTrip.TotalMilliseconds), $"broker {brokerId} rtt");

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        rd_kafka_mock_cluster_destroy(_cluster);
        rd_kafka_destroy(_handle);
    }

    private static void Check(int errorCode, string what)
    {
        if (errorCode != 0)
        {
            throw new InvalidOperationException($"{what} failed: {Marshal.PtrToStringUTF8(rd_kafka_err2str(errorCode))}");
        }
    }

    [DllImport(Library)]
    private static extern IntPtr rd_kafka_conf_new();

    [DllImport(Library)]
    private static extern IntPtr rd_kafka_new(int type, IntPtr conf, byte[] errstr, int errstrSize);

    [DllImport(Library)]
    private static extern void rd_kafka_destroy(IntPtr rk);

    [DllImport(Library)]
    private static extern IntPtr rd_kafka_mock_cluster_new(IntPtr rk, int brokerCount);

    [DllImport(Library)]
    private static extern void rd_kafka_mock_cluster_destroy(IntPtr cluster);

    [DllImport(Library)]
    private static extern IntPtr rd_kafka_mock_cluster_bootstraps(IntPtr cluster);

    [DllImport(Library, CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    private static extern int rd_kafka_mock_topic_create(IntPtr cluster, string topic, int partitionCount, int replicationFactor);

    [DllImport(Library)]
    private static extern int rd_kafka_mock_broker_set_down(IntPtr cluster, int brokerId);

    [DllImport(Library)]
    private static extern int rd_kafka_mock_broker_set_up(IntPtr cluster, int brokerId);

    [DllImport(Library)]
    private static extern int rd_kafka_mock_broker_set_rtt(IntPtr cluster, int brokerId, int rttMs);

    [DllImport(Library)]
    private static extern IntPtr rd_kafka_err2str(int errorCode);
}
