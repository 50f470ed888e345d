using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Confluent.Kafka;
using Ecrm.Common.Hosting;
using Ecrm.Common.Kafka;
using Ecrm.DialogueEngine.Consuming;
using Ecrm.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Hosting.Internal;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Xunit;

namespace Ecrm.DialogueEngine.Tests;

/// <summary>
/// <see cref="BatchConsumer"/> on librdkafka's mock cluster: a non-fatal error that Consume throws
/// (here a subscribed topic that does not exist yet) is counted and logged, and the member keeps
/// consuming instead of ending the host; with batches in flight, offsets move in batch order.
/// </summary>
public sealed class BatchConsumerTests(KafkaFixture kafka) : IClassFixture<KafkaFixture>
{
    [Fact]
    public async Task A_missing_topic_is_counted_and_survived_and_its_messages_are_consumed_once_it_exists()
    {
        var topic = $"not-yet-{Guid.NewGuid():N}";
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var meters = services.GetRequiredService<IMeterFactory>();
        using var consumeErrors = new MetricCollector<long>(meters, BatchConsumer.MeterName, "ecrm.consumer.consume_errors");
        var lifetime = new ApplicationLifetime(NullLogger<ApplicationLifetime>.Instance);
        var options = new KafkaOptions { BootstrapServers = kafka.BootstrapServers };
        using var consumer = new RecordingConsumer(options, topic, lifetime, meters);

        await consumer.StartAsync(CancellationToken.None);
        await Poll.UntilAsync("a consume error for the missing topic", () => Task.FromResult(consumeErrors.GetMeasurementSnapshot().Count > 0));

        var measurement = consumeErrors.GetMeasurementSnapshot()[0];
        Assert.Equal(nameof(ErrorCode.UnknownTopicOrPart), measurement.Tags["code"]);
        Assert.Equal(consumer.Group, measurement.Tags["group"]);
        Assert.False(consumer.ExecuteTask!.IsCompleted, "the consumer loop ended on a non-fatal error");
        Assert.False(lifetime.ApplicationStopping.IsCancellationRequested, "the host was asked to stop");

        kafka.Cluster.CreateTopic(topic, partitions: 3, replicationFactor: 3);
        using (var producer = KafkaClientFactory.CreateDurableProducer(options))
        {
            for (var i = 0; i < 20; i++)
            {
                await producer.ProduceAsync(topic, new Message<string, byte[]> { Key = $"k{i}", Value = [(byte)i] });
            }
        }

        // A liveness bound, not a speed claim: alone this takes a few seconds (the group rejoins once the topic's
        // metadata arrives), but beside the other suites on two cores it once took more than 30 s.
        await Poll.UntilAsync("all 20 messages processed", () => Task.FromResult(consumer.Processed.Count >= 20), TimeSpan.FromSeconds(90),
            () => $"{consumer.Processed.Count} of 20 processed; consume errors so far: {consumeErrors.GetMeasurementSnapshot().Count}");
        await consumer.StopAsync(CancellationToken.None);
        Assert.Equal(Enumerable.Range(0, 20).Select(i => $"k{i}").Order(), consumer.Processed.Order());
    }

    [Fact]
    public async Task With_two_batches_in_flight_a_later_batch_that_finishes_first_moves_no_offset_until_the_earlier_one_is_done()
    {
        var topic = kafka.CreateTopic("in-flight", partitions: 1);
        var options = new KafkaOptions { BootstrapServers = kafka.BootstrapServers };
        using (var producer = KafkaClientFactory.CreateDurableProducer(options))
        {
            for (var i = 0; i < 10; i++)
            {
                await producer.ProduceAsync(new TopicPartition(topic, 0), new Message<string, byte[]> { Key = $"k{i}", Value = [(byte)i] });
            }
        }

        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var lifetime = new ApplicationLifetime(NullLogger<ApplicationLifetime>.Instance);
        var firstBatchMayFinish = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var consumer = new RecordingConsumer(options, topic, lifetime, services.GetRequiredService<IMeterFactory>(), batchesInFlight: 2, maxBatchMessages: 5,
            holdBatch: batch => batch[0].Message.Key == "k0" ? firstBatchMayFinish.Task : Task.CompletedTask);
        using var reader = KafkaClientFactory.CreateReader<string, byte[]>(options, consumer.Group);
        long Committed() => reader.Committed([new TopicPartition(topic, 0)], TimeSpan.FromSeconds(10))[0].Offset.Value;

        await consumer.StartAsync(CancellationToken.None);
        // The second batch (k5..k9) is processed while the first is still being written.
        await Poll.UntilAsync("the second batch processed while the first is held", () => Task.FromResult(consumer.Processed.Contains("k9")));
        await Task.Delay(TimeSpan.FromSeconds(1)); // several auto-commit intervals
        Assert.True(Committed() <= 0, $"offset {Committed()} committed while the batch before it was still in flight");

        firstBatchMayFinish.SetResult();
        await Poll.UntilAsync("both batches' offsets committed", () => Task.FromResult(Committed() == 10));
        await consumer.StopAsync(CancellationToken.None);
    }

    private sealed class RecordingConsumer(
        KafkaOptions kafka, string topic, ApplicationLifetime lifetime, IMeterFactory meters,
        int batchesInFlight = 1, int maxBatchMessages = 100, Func<IReadOnlyList<ConsumeResult<string, byte[]>>, Task>? holdBatch = null)
        : BatchConsumer(Options.Create(kafka), TimeProvider.System, lifetime, meters, NullLogger.Instance)
    {
        public string Group { get; } = $"batch-consumer-{Guid.NewGuid():N}";

        public ConcurrentBag<string> Processed { get; } = [];

        protected override string GroupId => Group;

        protected override IReadOnlyList<string> Topics => [topic];

        protected override int MaxBatchMessages => maxBatchMessages;

        protected override int BatchesInFlight => batchesInFlight;

        protected override TimeSpan BatchWindow => TimeSpan.FromMilliseconds(50);

        protected override void Configure(ConsumerConfig config)
        {
            // See the topic appear without waiting for librdkafka's default five-minute metadata refresh.
            config.TopicMetadataRefreshIntervalMs = 500;
            // Stored offsets reach the group within a moment, so a test sees what was stored.
            config.AutoCommitIntervalMs = 100;
        }

        protected override Task ProcessAsync(IReadOnlyList<ConsumeResult<string, byte[]>> batch, CancellationToken stoppingToken)
        {
            foreach (var result in batch)
            {
                Processed.Add(result.Message.Key);
            }

            return holdBatch?.Invoke(batch) ?? Task.CompletedTask;
        }

        protected override bool IsTransient(Exception exception) => false;
    }
}
