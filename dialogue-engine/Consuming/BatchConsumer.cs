using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Confluent.Kafka;
using Ecrm.Common.Hosting;
using Ecrm.Common.Kafka;
using Microsoft.Extensions.Options;

namespace Ecrm.DialogueEngine.Consuming;

/// <summary>
/// A consumer group member that works in batches: it fills a batch by count or time, processes it
/// until that succeeds (retrying with backoff, never skipping), and only then stores the batch's
/// offsets. At-least-once delivery; each subclass makes a repeat harmless.
/// </summary>
public abstract partial class BatchConsumer(
    IOptions<KafkaOptions> kafka,
    TimeProvider time,
    IHostApplicationLifetime lifetime,
    IMeterFactory meters,
    ILogger logger) : BackgroundService
{
    /// <summary>The engine's meter; <c>/metrics</c> shows its instruments.</summary>
    public const string MeterName = "Ecrm.DialogueEngine";

    private readonly ConcurrentDictionary<TopicPartition, long> _lag = new();

    /// <summary>Batches being processed, oldest first; touched only on the consume thread (the loop and the rebalance handlers run there).</summary>
    private readonly Queue<(Task Work, List<ConsumeResult<string, byte[]>> Batch)> _inFlight = new();

    /// <summary>Each batch in flight's turn at the work that must apply in batch order (<see cref="WaitForTurnAsync"/>).</summary>
    private readonly ConcurrentDictionary<IReadOnlyList<ConsumeResult<string, byte[]>>, BatchTurn> _turns = new(ReferenceEqualityComparer.Instance);
    private BatchTurn? _lastTurn;
    private readonly Stack<List<ConsumeResult<string, byte[]>>> _freeBatches = new();
    private readonly Counter<long> _consumeErrors = meters.Create(MeterName).CreateCounter<long>("ecrm.consumer.consume_errors", description: "non-fatal errors Consume reported (a topic missing, a broker refusing a fetch); the consumer carries on");
    private readonly Counter<long> _failures = meters.Create(MeterName).CreateCounter<long>("ecrm.consumer.batch_failures", description: "batches that failed and were retried (a store or broker away)");

    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(5);

    /// <summary>How long to wait after a consume error with nothing read, so a missing topic is not asked for in a tight loop.</summary>
    private static readonly TimeSpan ConsumeErrorPause = TimeSpan.FromMilliseconds(500);

    protected KafkaOptions Kafka => kafka.Value;

    protected TimeProvider Time => time;

    protected abstract string GroupId { get; }

    protected abstract IReadOnlyList<string> Topics { get; }

    protected abstract int MaxBatchMessages { get; }

    protected abstract TimeSpan BatchWindow { get; }

    /// <summary>
    /// How many batches may be processed at once, the next one read while the previous ones are still
    /// being written. Offsets are stored in batch order, each batch's only once it and every batch before
    /// it succeeded. One (the default) for a consumer whose batches must apply in order, such as folding;
    /// more where processing repeats and reorders harmlessly, such as the archive's replacing inserts.
    /// </summary>
    protected virtual int BatchesInFlight => 1;

    /// <summary>
    /// Waits until every earlier batch has ended its turn (<see cref="EndTurn"/>): with more than one batch in
    /// flight, the part of the work that must apply in batch order (folding) runs one batch after another,
    /// while the rest (publishing, marking) of one batch overlaps the next one's turn.
    /// </summary>
    protected Task WaitForTurnAsync(IReadOnlyList<ConsumeResult<string, byte[]>> batch, CancellationToken cancellationToken) =>
        _turns[batch].Previous.WaitAsync(cancellationToken);

    /// <summary>Lets the next batch take its turn; a repeat (a retried batch) changes nothing.</summary>
    protected void EndTurn(IReadOnlyList<ConsumeResult<string, byte[]>> batch) => _turns[batch].Done.TrySetResult();

    /// <summary>
    /// Called on the consume thread when partitions are assigned, with the offsets the group committed for
    /// them (<see cref="Offset.Unset"/> when none): a subclass may check its store against them.
    /// </summary>
    protected virtual void OnAssigned(IReadOnlyList<TopicPartitionOffset> committed)
    {
    }

    /// <summary>Called on the consume thread when partitions go to another member (after the batches in flight are drained).</summary>
    protected virtual void OnRevoked(IEnumerable<TopicPartition> partitions)
    {
    }

    /// <summary>Lets a subclass tune its consumer (for example a shorter fetch wait for latency).</summary>
    protected virtual void Configure(ConsumerConfig config)
    {
    }

    /// <summary>Runs once before consuming, retried like a batch (for example, creating tables).</summary>
    protected virtual Task PrepareAsync(CancellationToken stoppingToken) => Task.CompletedTask;

    /// <summary>Processes one batch; it must be safe to run again on the same messages.</summary>
    protected abstract Task ProcessAsync(IReadOnlyList<ConsumeResult<string, byte[]>> batch, CancellationToken stoppingToken);

    /// <summary>Whether a failure is worth retrying (a store or broker that may come back).</summary>
    protected abstract bool IsTransient(Exception exception);

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        // Consume blocks, so the loop owns a thread and waits on its async steps there; an async loop
        // would carry the blocking Consume onto whichever pool or client thread finished the last await.
        Task.Factory.StartNew(() => Run(stoppingToken), stoppingToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private void Run(CancellationToken stoppingToken)
    {
        meters.Create(MeterName).CreateObservableGauge("ecrm.consumer.lag", ObserveLag, description: "messages behind the end of each partition, as of the last batch");
        try
        {
            WithRetryAsync("prepare", 0, PrepareAsync, stoppingToken).GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            return;
        }

        var consumer = CreateConsumer();
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var batch = _freeBatches.TryPop(out var free) ? free : new List<ConsumeResult<string, byte[]>>(MaxBatchMessages);
                FillBatch(consumer, batch, stoppingToken);
                if (batch.Count == 0)
                {
                    _freeBatches.Push(batch);
                    CompleteFinishedBatches(consumer, waitForRoom: false);
                    continue;
                }

                // With room for more than one batch, the work leaves this thread at once: the next batch is
                // read and encoded while this one is written (for the archive, about a fifth more rows a second).
                var turn = new BatchTurn(_lastTurn?.Done.Task ?? Task.CompletedTask);
                _turns[batch] = turn;
                _lastTurn = turn;
                var work = BatchesInFlight > 1
                    ? Task.Run(() => WithRetryAsync("batch", batch.Count, token => ProcessAsync(batch, token), stoppingToken), CancellationToken.None)
                    : WithRetryAsync("batch", batch.Count, token => ProcessAsync(batch, token), stoppingToken);
                _inFlight.Enqueue((work, batch));
                try
                {
                    CompleteFinishedBatches(consumer, waitForRoom: true);
                }
                catch (RewindException rewind)
                {
                    Rewind(consumer, rewind);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down: what was not stored is re-delivered to the next owner of the partition.
        }
        finally
        {
            // Batches that finish while the host stops still get their offsets stored, so Close commits them.
            DrainInFlight(consumer);
            consumer.Close();
            consumer.Dispose();
        }
    }

    /// <summary>
    /// Stores the offsets of the oldest batches that are done, in order. With <paramref name="waitForRoom"/>,
    /// first waits until fewer than <see cref="BatchesInFlight"/> are being processed.
    /// </summary>
    private void CompleteFinishedBatches(IConsumer<string, byte[]> consumer, bool waitForRoom)
    {
        while (_inFlight.TryPeek(out var oldest) && (oldest.Work.IsCompleted || (waitForRoom && _inFlight.Count >= BatchesInFlight)))
        {
            _inFlight.Dequeue();
            // A batch retries until it succeeds; it ends otherwise only when the host stops (an OperationCanceledException
            // here) or its store asks to go back (a RewindException). Its turn stays known until then, so a rewind can
            // end it and release the batches waiting behind it.
            oldest.Work.GetAwaiter().GetResult();
            _turns.TryRemove(oldest.Batch, out _);
            // One store per partition: a batch holds each partition's messages in offset order, so the last covers the rest.
            var lastOfEachPartition = LastOfEachPartition(oldest.Batch);
            foreach (var result in lastOfEachPartition)
            {
                StoreOffset(consumer, result);
            }

            RecordLag(consumer, lastOfEachPartition);
            oldest.Batch.Clear();
            _freeBatches.Push(oldest.Batch);
        }
    }

    /// <summary>
    /// Waits for every batch in flight and stores the offsets of those that succeeded, in order, up to the
    /// first that did not: before partitions are handed to another member (their offsets are committed on
    /// the way, so the next owner does not redo them) and when the consumer stops.
    /// </summary>
    private void DrainInFlight(IConsumer<string, byte[]> consumer)
    {
        while (_inFlight.TryPeek(out var oldest))
        {
            try
            {
                oldest.Work.GetAwaiter().GetResult();
            }
            catch (Exception e) when (e is OperationCanceledException or RewindException)
            {
                // Stopping, or the store lost work: this batch and the later ones are re-delivered to the next
                // owner of the partitions, which checks the store again when they are assigned.
                foreach (var turn in _turns.Values)
                {
                    turn.Done.TrySetCanceled();
                }

                _inFlight.Clear();
                _turns.Clear();
                _lastTurn = null;
                return;
            }

            CompleteFinishedBatches(consumer, waitForRoom: false);
        }
    }

    /// <summary>
    /// The store lost work it had acknowledged (see <see cref="RewindException"/>): the batches in flight are
    /// dropped unstored, their turns end, and each partition is read again from the earlier of where the store
    /// says it lost work and where the dropped batches began. The lower offsets are stored at once, so a crash
    /// before they are redone does not skip them.
    /// </summary>
    private void Rewind(IConsumer<string, byte[]> consumer, RewindException rewind)
    {
        var from = new Dictionary<TopicPartition, long>(rewind.NextOffsets);
        foreach (var turn in _turns.Values)
        {
            turn.Done.TrySetException(rewind);
        }

        foreach (var (work, batch) in _inFlight)
        {
            try
            {
                work.GetAwaiter().GetResult();
            }
            catch (Exception e) when (e is RewindException or OperationCanceledException)
            {
                // Dropped: its messages are read again below.
            }

            foreach (var result in batch)
            {
                if (!from.TryGetValue(result.TopicPartition, out var offset) || result.Offset.Value < offset)
                {
                    from[result.TopicPartition] = result.Offset.Value;
                }
            }

            batch.Clear();
            _freeBatches.Push(batch);
        }

        _inFlight.Clear();
        _turns.Clear();
        _lastTurn = null;
        var assigned = consumer.Assignment;
        var positions = from.Where(p => assigned.Contains(p.Key)).Select(p => new TopicPartitionOffset(p.Key, p.Value)).ToList();
        foreach (var position in positions)
        {
            consumer.Seek(position);
        }

        try
        {
            foreach (var position in positions)
            {
                consumer.StoreOffset(position);
            }

            consumer.Commit(positions);
        }
        catch (KafkaException e)
        {
            // Not committed: the next owner starts from the older commit, which is at or after these offsets
            // only when nothing was lost there. The store's own check runs again on assignment.
            var partition = positions[0].TopicPartition;
            LogStoreOffsetFailed(GroupId, partition, e.Error.Reason);
        }

        var described = string.Join(", ", positions.Select(p => $"{p.Partition.Value}@{p.Offset.Value}"));
        LogRewound(GroupId, described, rewind.Message);
    }

    private IConsumer<string, byte[]> CreateConsumer()
    {
        var config = KafkaClientFactory.GroupMemberConfig(kafka.Value, GroupId);
        // Room for a batch to be retried through a store outage without leaving the group.
        config.MaxPollIntervalMs = 600_000;
        // A stage must be usable within milliseconds: fetch what is there instead of waiting up to
        // librdkafka's default 500 ms for more bytes to arrive.
        config.FetchWaitMaxMs = 5;
        Configure(config);
        var consumer = KafkaClientFactory.ConsumerBuilder<string, byte[]>(kafka.Value, config, logger)
        .SetErrorHandler((_, error) =>
        {
            LogKafkaError(GroupId, error.Reason, error.IsFatal);
            if (error.IsFatal)
            {
                lifetime.StopApplication();
            }
        })
        // A partition handed to another member is its lag to report now, not this member's. Batches in
        // flight finish first, so that their offsets are committed with the revocation.
        .SetPartitionsAssignedHandler((assigned, partitions) =>
        {
            try
            {
                OnAssigned(assigned.Committed(partitions, TimeSpan.FromSeconds(10)));
            }
            catch (KafkaException e)
            {
                LogKafkaError(GroupId, $"committed offsets of the assigned partitions unknown: {e.Error.Reason}", false);
                OnAssigned([.. partitions.Select(p => new TopicPartitionOffset(p, Offset.Unset))]);
            }
        })
        .SetPartitionsRevokedHandler((revoked, partitions) =>
        {
            DrainInFlight(revoked);
            ForgetLag(partitions);
            OnRevoked(partitions.Select(p => p.TopicPartition));
        })
        .SetPartitionsLostHandler((lost, partitions) =>
        {
            DrainInFlight(lost);
            ForgetLag(partitions);
            OnRevoked(partitions.Select(p => p.TopicPartition));
        })
        .Build();
        consumer.Subscribe(Topics);
        return consumer;
    }

    /// <summary>
    /// Fills the batch by count or time. A non-fatal error that Consume reports (a subscribed topic not
    /// there yet, a fetch the broker refused: librdkafka retries those by itself) ends the batch early:
    /// what was read before it is processed as usual, so nothing is skipped; with nothing read, the
    /// loop pauses briefly and consumes again.
    /// </summary>
    private void FillBatch(IConsumer<string, byte[]> consumer, List<ConsumeResult<string, byte[]>> batch, CancellationToken stoppingToken)
    {
        batch.Clear();
        try
        {
            FillBatchUntilFullOrDue(consumer, batch, stoppingToken);
        }
        catch (ConsumeException e) when (!e.Error.IsFatal)
        {
            _consumeErrors.Add(1, new KeyValuePair<string, object?>("group", GroupId), new KeyValuePair<string, object?>("code", e.Error.Code.ToString()));
            LogConsumeError(GroupId, e.Error.Code, e.Error.Reason, batch.Count);
            if (batch.Count == 0)
            {
                stoppingToken.WaitHandle.WaitOne(ConsumeErrorPause);
            }
        }
    }

    private void FillBatchUntilFullOrDue(IConsumer<string, byte[]> consumer, List<ConsumeResult<string, byte[]>> batch, CancellationToken stoppingToken)
    {
        var first = consumer.Consume(TimeSpan.FromMilliseconds(500));
        stoppingToken.ThrowIfCancellationRequested();
        if (first is null || first.IsPartitionEOF)
        {
            return;
        }

        batch.Add(first);
        var started = time.GetTimestamp();
        while (batch.Count < MaxBatchMessages)
        {
            var remaining = BatchWindow - time.GetElapsedTime(started);
            if (remaining <= TimeSpan.Zero)
            {
                break;
            }

            var next = consumer.Consume(remaining);
            if (next is null)
            {
                break;
            }

            if (!next.IsPartitionEOF)
            {
                batch.Add(next);
            }
        }
    }

    private async Task WithRetryAsync(string step, int count, Func<CancellationToken, Task> work, CancellationToken stoppingToken)
    {
        var delay = TimeSpan.FromMilliseconds(100);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await work(stoppingToken);
                return;
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested && IsTransient(e))
            {
                _failures.Add(1, new KeyValuePair<string, object?>("group", GroupId), new KeyValuePair<string, object?>("step", step));
                LogStepFailed(e, GroupId, step, count, attempt, delay.TotalMilliseconds);
                await Task.Delay(delay, stoppingToken);
                delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, MaxRetryDelay.TotalMilliseconds));
            }
        }
    }

    /// <summary>
    /// The end of each partition the batch came from (librdkafka's cached watermark: no broker call) minus
    /// the next offset to read. Only for partitions still assigned: a rebalance can revoke one while a
    /// batch holding its messages is being filled or folded, and its lag would then stay here, stale.
    /// </summary>
    private void RecordLag(IConsumer<string, byte[]> consumer, IEnumerable<ConsumeResult<string, byte[]>> lastOfEachPartition)
    {
        var assigned = consumer.Assignment;
        foreach (var last in lastOfEachPartition.Where(r => assigned.Contains(r.TopicPartition)))
        {
            var high = consumer.GetWatermarkOffsets(last.TopicPartition).High;
            if (high != Offset.Unset)
            {
                _lag[last.TopicPartition] = Math.Max(0, high.Value - (last.Offset.Value + 1));
            }
        }
    }

    private static Dictionary<TopicPartition, ConsumeResult<string, byte[]>>.ValueCollection LastOfEachPartition(List<ConsumeResult<string, byte[]>> batch)
    {
        var last = new Dictionary<TopicPartition, ConsumeResult<string, byte[]>>();
        foreach (var result in batch)
        {
            last[result.TopicPartition] = result;
        }

        return last.Values;
    }

    private void ForgetLag(List<TopicPartitionOffset> partitions)
    {
        foreach (var partition in partitions)
        {
            _lag.TryRemove(partition.TopicPartition, out _);
        }
    }

    private IEnumerable<Measurement<long>> ObserveLag() =>
        _lag.Select(entry => new Measurement<long>(entry.Value,
            new KeyValuePair<string, object?>("group", GroupId),
            new KeyValuePair<string, object?>("topic", entry.Key.Topic),
            new KeyValuePair<string, object?>("partition", entry.Key.Partition.Value)));

    private void StoreOffset(IConsumer<string, byte[]> consumer, ConsumeResult<string, byte[]> result)
    {
        try
        {
            consumer.StoreOffset(result);
        }
        catch (KafkaException e)
        {
            // The partition moved to another member during a rebalance; it re-reads from the last
            // committed offset, and the subclass makes that harmless.
            LogStoreOffsetFailed(GroupId, result.TopicPartition, e.Error.Reason);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Group}: Kafka consumer error (fatal: {IsFatal}): {Reason}")]
    private partial void LogKafkaError(string group, string reason, bool isFatal);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Group}: {Step} of {Count} messages failed on attempt {Attempt}; retrying in {DelayMs} ms")]
    private partial void LogStepFailed(Exception exception, string group, string step, int count, int attempt, double delayMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Group}: Consume reported {Code}: {Reason}; {Read} messages read before it are processed, and consuming goes on")]
    private partial void LogConsumeError(string group, ErrorCode code, string reason, int read);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Group}: reading again from {Positions}: {Reason}")]
    private partial void LogRewound(string group, string positions, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Group}: offset for {Partition} not stored: {Reason}")]
    private partial void LogStoreOffsetFailed(string group, TopicPartition partition, string reason);
}

/// <summary>One batch's turn at the in-order part of the work: it may start once <see cref="Previous"/> is done.</summary>
internal sealed class BatchTurn(Task previous)
{
    public Task Previous { get; } = previous;

    public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>
/// Thrown by a batch when its store lost work it had acknowledged (a Redis restarted without its last
/// writes): the consumer reads each partition again from <see cref="NextOffsets"/>.
/// </summary>
public sealed class RewindException(IReadOnlyDictionary<TopicPartition, long> nextOffsets, string reason) : Exception(reason)
{
    public IReadOnlyDictionary<TopicPartition, long> NextOffsets { get; } = nextOffsets;
}
