using System.Text.Json;

namespace Ecrm.DialogueEngine.Consuming;

/// <summary>
/// Watches a consumer's group membership through librdkafka's statistics (<c>cgrp.join_state</c>) and
/// says when the member has been out of the steady state for too long. librdkafka 2.0.2 can leave a
/// member stuck mid-rebalance after its whole cluster was away (the fault suite saw one sit in
/// <c>wait-unassign-to-complete</c> for minutes while the application kept polling); a fresh consumer
/// rejoins at once. A normal rebalance passes through these states in seconds. While no broker is up
/// (the statistics' <c>brokers</c>), a member cannot be steady and a fresh one would do no better, so
/// it does not count as stuck.
/// </summary>
public sealed class GroupMembershipWatch(TimeProvider time, TimeSpan stuckAfter)
{
    private const string Steady = "steady";

    private long? _unsteadySince;

    /// <summary>The join state in the latest statistics, or null before the first.</summary>
    public string? JoinState { get; private set; }

    /// <summary>Reads one statistics document (librdkafka's JSON); ignores one it cannot read.</summary>
    public void Observe(string statistics)
    {
        string? joinState;
        bool brokerUp;
        try
        {
            using var document = JsonDocument.Parse(statistics);
            var root = document.RootElement;
            joinState = root.TryGetProperty("cgrp", out var group) && group.TryGetProperty("join_state", out var state)
                ? state.GetString()
                : null;
            brokerUp = root.TryGetProperty("brokers", out var brokers) && brokers.ValueKind == JsonValueKind.Object
                && brokers.EnumerateObject().Any(broker => broker.Value.TryGetProperty("state", out var brokerState) && brokerState.GetString() == "UP");
        }
        catch (JsonException)
        {
            return;
        }

        if (joinState is null)
        {
            return;
        }

        JoinState = joinState;
        BrokerUp = brokerUp;
        if (joinState == Steady)
        {
            _unsteadySince = null;
        }
        else
        {
            _unsteadySince ??= time.GetTimestamp();
        }
    }

    /// <summary>Whether the latest statistics showed a connection to at least one broker.</summary>
    public bool BrokerUp { get; private set; }

    /// <summary>Whether the member has not been steady for longer than the limit although a broker is up.</summary>
    public bool IsStuck => BrokerUp && _unsteadySince is { } since && time.GetElapsedTime(since) > stuckAfter;

    /// <summary>How long the member has been out of the steady state.</summary>
    public TimeSpan Unsteady => _unsteadySince is { } since ? time.GetElapsedTime(since) : TimeSpan.Zero;
}
