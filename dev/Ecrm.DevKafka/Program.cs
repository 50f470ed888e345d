using System.Runtime.InteropServices;
using Ecrm.Common.Kafka;

namespace Ecrm.DevKafka;

// An explicit entry point in a namespace: Ecrm.Common brings ASP.NET Core, whose source generator makes
// a top-level program's Program class public, and the test projects would then see two Programs.
internal static class DevKafkaProgram
{
    private static async Task<int> Main(string[] args)
    {
        // Usage: Ecrm.DevKafka <bootstrap-file> [brokers=3] [topic:partitions ...]
        // Hosts the mock cluster until SIGTERM/SIGINT and writes its bootstrap list to <bootstrap-file>.
        if (args.Length < 1)
        {
            Console.Error.WriteLine("usage: Ecrm.DevKafka <bootstrap-file> [brokers] [topic:partitions ...]");
            return 2;
        }

        var bootstrapFile = args[0];
        var brokers = args.Length > 1 ? int.Parse(args[1]) : 3;
        var topics = args.Length > 2 ? args[2..] : ["ecrm.events:6"];

        using var cluster = new MockKafkaCluster(brokers);
        foreach (var spec in topics)
        {
            var parts = spec.Split(':');
            cluster.CreateTopic(parts[0], parts.Length > 1 ? int.Parse(parts[1]) : 6, Math.Min(3, brokers));
        }

        // Written last and atomically, so a reader that sees the file can connect.
        File.WriteAllText(bootstrapFile + ".tmp", cluster.BootstrapServers);
        File.Move(bootstrapFile + ".tmp", bootstrapFile, overwrite: true);
        Console.WriteLine($"embedded Kafka (librdkafka mock cluster, {brokers} brokers) at {cluster.BootstrapServers}, on {KafkaNativeLibrary.Describe()}");

        var stopped = new TaskCompletionSource();
        using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stopped.TrySetResult(); });
        using var onInt = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stopped.TrySetResult(); });
        await stopped.Task;
        File.Delete(bootstrapFile);
        return 0;
    }
}
