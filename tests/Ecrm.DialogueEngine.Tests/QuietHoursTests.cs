using Ecrm.DialogueEngine.Triggers;
using Xunit;

namespace Ecrm.DialogueEngine.Tests;

public sealed class QuietHoursTests
{
    [Theory]
    [InlineData("22:00-08:00", "2026-11-26T23:30:00Z", "2026-11-27T08:00:00Z")]
    [InlineData("22:00-08:00", "2026-11-26T03:00:00Z", "2026-11-26T08:00:00Z")]
    [InlineData("22:00-08:00", "2026-11-26T12:00:00Z", null)]
    [InlineData("12:00-13:00", "2026-11-26T12:59:00Z", "2026-11-26T13:00:00Z")]
    [InlineData("12:00-13:00", "2026-11-26T13:00:00Z", null)]
    public void QuietWindowEndsWhereItShouldInUtc(string window, string now, string? end)
    {
        var quiet = QuietHours.Parse(window)!.Value;

        Assert.Equal(end is null ? null : DateTimeOffset.Parse(end), quiet.EndOf(DateTimeOffset.Parse(now), TimeZoneInfo.Utc));
    }

    [Fact]
    public void QuietWindowFollowsTheCustomersZoneAcrossADaylightSavingChange()
    {
        var newYork = TimeZoneInfo.FindSystemTimeZoneById("America/New_York");
        var quiet = QuietHours.Parse("22:00-08:00")!.Value;

        // 2026-11-01 is the end of daylight saving in New York: 23:00 EDT on the 31st is 03:00Z; 08:00 EST is 13:00Z.
        Assert.Equal(DateTimeOffset.Parse("2026-11-01T13:00:00Z"), quiet.EndOf(DateTimeOffset.Parse("2026-11-01T03:00:00Z"), newYork));
    }

    [Theory]
    [InlineData("22-08")]
    [InlineData("25:00-08:00")]
    [InlineData("08:00-08:00")]
    [InlineData("")]
    public void MalformedWindowsAreRefused(string window) => Assert.Null(QuietHours.Parse(window));
}
