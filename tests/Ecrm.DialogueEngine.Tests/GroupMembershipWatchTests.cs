using Ecrm.DialogueEngine.Consuming;
using Xunit;

namespace Ecrm.DialogueEngine.Tests;

public sealed class GroupMembershipWatchTests
{
    private readonly SteppedTime _time = new();

    [Fact]
    public void AMemberOutOfTheSteadyStateLongerThanTheLimitIsStuck()
    {
        var watch = new GroupMembershipWatch(_time, TimeSpan.FromSeconds(60));
        watch.Observe(Statistics("steady"));
        watch.Observe(Statistics("wait-unassign-to-complete"));
        _time.Advance(TimeSpan.FromSeconds(59));
        watch.Observe(Statistics("wait-unassign-to-complete"));
        Assert.False(watch.IsStuck);

        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.True(watch.IsStuck);
        Assert.Equal("wait-unassign-to-complete", watch.JoinState);
        Assert.Equal(TimeSpan.FromSeconds(61), watch.Unsteady);
    }

    [Fact]
    public void ARebalanceThatEndsInTheSteadyStateResetsTheClock()
    {
        var watch = new GroupMembershipWatch(_time, TimeSpan.FromSeconds(60));
        watch.Observe(Statistics("wait-join"));
        _time.Advance(TimeSpan.FromSeconds(50));
        watch.Observe(Statistics("steady"));
        watch.Observe(Statistics("wait-sync"));
        _time.Advance(TimeSpan.FromSeconds(50));

        Assert.False(watch.IsStuck);
        Assert.Equal(TimeSpan.FromSeconds(50), watch.Unsteady);
    }

    [Fact]
    public void AMemberIsNotStuckWhileNoBrokerIsUp()
    {
        var watch = new GroupMembershipWatch(_time, TimeSpan.FromSeconds(60));
        watch.Observe(Statistics("wait-unassign-to-complete", brokerState: "DOWN"));
        _time.Advance(TimeSpan.FromSeconds(90));
        watch.Observe(Statistics("wait-unassign-to-complete", brokerState: "DOWN"));
        Assert.False(watch.IsStuck);

        watch.Observe(Statistics("wait-unassign-to-complete", brokerState: "UP"));
        Assert.True(watch.IsStuck);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("""{"name":"rdkafka#producer-1"}""")]
    public void StatisticsWithoutAGroupChangeNothing(string statistics)
    {
        var watch = new GroupMembershipWatch(_time, TimeSpan.FromSeconds(1));
        watch.Observe(Statistics("wait-join"));
        _time.Advance(TimeSpan.FromSeconds(2));
        watch.Observe(statistics);

        Assert.True(watch.IsStuck);
        Assert.Equal("wait-join", watch.JoinState);
    }

    private static string Statistics(string joinState, string brokerState = "UP") =>
        $$$"""{"name":"rdkafka#consumer-1","type":"consumer","brokers":{"127.0.0.1:9092/bootstrap":{"name":"127.0.0.1:9092/bootstrap","nodeid":-1,"state":"INIT"},"127.0.0.1:9092/1":{"name":"127.0.0.1:9092/1","nodeid":1,"state":"{{{brokerState}}}"}},"cgrp":{"state":"up","stateage":1000,"join_state":"{{{joinState}}}","rebalance_age":0,"rebalance_cnt":1,"assignment_size":3}}""";

    /// <summary>A clock the test moves by hand.</summary>
    private sealed class SteppedTime : TimeProvider
    {
        private long _ticks;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => _ticks;

        public void Advance(TimeSpan by) => _ticks += by.Ticks;
    }
}
