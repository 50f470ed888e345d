using System.Net;
using System.Text;
using System.Text.Json;
using Ecrm.Common.Events;
using Ecrm.Common.Hosting;
using Ecrm.Common.Kafka;
using Ecrm.Testing;
using Xunit;

namespace Ecrm.IntegrationTests;

/// <summary>What the collector acknowledged survives Kafka being away and the collector being killed.</summary>
[Collection(BackendsCollection.Name)]
public sealed class CollectorCrashTests(RedisFixture redis, ClickHouseFixture clickHouse)
{
    [Fact]
    public async Task EventsSpooledWhileKafkaWasDownSurviveSigkillAndReachKafkaExactlyOnce()
    {
        // A Kafka cluster of its own: every broker goes down.
        using var kafka = new KafkaFixture();
        await using var services = new EcrmServices(kafka, redis, clickHouse);
        services.Set("Collector__AckTimeoutSeconds", "2");
        await services.StartAsync();
        using var collector = EcrmServices.Client(services.CollectorUrl);

        for (var broker = 1; broker <= kafka.Cluster.BrokerCount; broker++)
        {
            kafka.Cluster.SetBrokerDown(broker, down: true);
        }

        var ids = new List<string>();
        for (var request = 0; request < 3; request++)
        {
            var batch = Enumerable.Range(0, 10).Select(_ => Guid.NewGuid().ToString()).ToList();
            ids.AddRange(batch);
            var body = $$"""{"batch":[{{string.Join(',', batch.Select(id => $$$"""{"type":"track","event":"Spooled","userId":"crash-{{{id[..4]}}}","messageId":"{{{id}}}"}"""))}}]}""";
            var response = await collector.PostAsync("v1/batch", new StringContent(body, Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        services.Kill("collector");
        for (var broker = 1; broker <= kafka.Cluster.BrokerCount; broker++)
        {
            kafka.Cluster.SetBrokerDown(broker, down: false);
        }

        await services.RestartAsync("collector");

        var found = Consume(kafka.BootstrapServers, services.Topic, ids.Count);
        Assert.Equal(ids.Order(), found.Order());
    }

    private static List<string> Consume(string bootstrapServers, string topic, int expected)
    {
        using var consumer = KafkaClientFactory.CreateReader<string, byte[]>(new KafkaOptions { BootstrapServers = bootstrapServers });
        consumer.Subscribe(topic);
        var ids = new List<string>();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            if (ids.Count >= expected)
            {
                // A little longer, to see whether anything arrives twice.
                deadline = DateTime.UtcNow.AddSeconds(1);
                expected = int.MaxValue;
            }

            if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { IsPartitionEOF: false } result)
            {
                ids.Add(JsonSerializer.Deserialize(result.Message.Value, EcrmJsonContext.Default.EventEnvelope)!.MessageId!);
            }
        }

        consumer.Close();
        return ids;
    }
}
