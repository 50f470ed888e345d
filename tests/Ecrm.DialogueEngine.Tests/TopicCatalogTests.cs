using System.Text;
using Ecrm.Common.Catalog;
using Xunit;

namespace Ecrm.DialogueEngine.Tests;

public sealed class TopicCatalogTests
{
    [Fact]
    public void TheIssueExampleCatalogIsValid()
    {
        var result = Parse(CatalogSamples.OledCatalog);

        Assert.Empty(result.Errors);
        var topic = Assert.Single(result.Catalog!.Topics);
        Assert.Equal("55-inch OLED TV", topic.Name);
        Assert.Equal(7, topic.Rules.Count);
        Assert.Equal(4, result.Catalog.Stages.Last);
    }

    [Fact]
    public void StagesDefaultToTheStandardScale()
    {
        var result = Parse("""{"topics":[{"id":"t","rules":[{"match":{"path":"/t"},"stage":"interest"}]}]}""");

        Assert.Equal(["awareness", "interest", "consideration", "purchase"], result.Catalog!.Stages.Names);
        Assert.Equal(2, result.Catalog.Topics[0].Rules[0].Stage);
    }

    [Fact]
    public void SettingsDefaultToThirtyDaysDormancyAndNoMergingOfKnownCustomers()
    {
        Assert.Equal(CatalogSettings.Default, Parse(CatalogSamples.OledCatalog).Catalog!.Settings);
        Assert.Equal((30.0, false), (CatalogSettings.Default.DormancyDays, CatalogSettings.Default.MergeKnownCustomers));

        var custom = Parse("""{"settings":{"dormancyDays":7,"scoreHalfLifeDays":3,"mergeKnownCustomers":true},"topics":[{"id":"t"}]}""").Catalog!;

        Assert.Equal(new CatalogSettings(7, 3, true), custom.Settings);
        Assert.Equal(custom.Settings, custom.WithVersion(9).Settings);
    }

    [Theory]
    [InlineData("""{"topics":[{"id":"tv","rules":[{"match":{"path":"tv"},"stage":1}]}]}""", "topic 'tv' rules[0].match.path: must start with '/'")]
    [InlineData("""{"topics":[{"id":"tv","rules":[{"match":{"path":"/tv"},"stage":9}]}]}""", "topic 'tv' rules[0].stage: required, a number from 1 to 4")]
    [InlineData("""{"topics":[{"id":"tv","rules":[{"match":{},"stage":1}]}]}""", "topic 'tv' rules[0].match: needs at least one of")]
    [InlineData("""{"topics":[{"id":"tv","rules":[{"channel":"fax","match":{"path":"/tv"},"stage":1}]}]}""", "topic 'tv' rules[0].channel: 'fax' is not one of")]
    [InlineData("""{"topics":[{"id":"tv","rules":[{"channel":"email","match":{"campaign":"c","action":"forward"},"stage":1}]}]}""", "topic 'tv' rules[0].match.action: 'forward'")]
    [InlineData("""{"topics":[{"id":"tv","rules":[{"channel":"web","match":{"screen":"S"},"stage":1}]}]}""", "topic 'tv' rules[0].match.screen: applies to the mobile channel only")]
    [InlineData("""{"topics":[{"id":"tv","rules":[{"match":{"event":"E","properties":{"sku":{"a":1}}},"stage":1}]}]}""", "topic 'tv' rules[0].match.properties.sku")]
    [InlineData("""{"topics":[{"id":"tv"},{"id":"tv"}]}""", "topic 'tv'.id: duplicate topic id")]
    [InlineData("""{"topics":[{"id":"bad id"}]}""", "topics[0].id: required")]
    [InlineData("""{"stages":["a","a"],"topics":[{"id":"t"}]}""", "stages[1]: duplicate stage name 'a'")]
    [InlineData("""{"topics":[]}""", "topics: at least one topic is required")]
    [InlineData("""{"topics":[""", "catalog is not valid JSON")]
    [InlineData("""{"settings":{"dormancyDays":0},"topics":[{"id":"t"}]}""", "settings.dormancyDays: a number of days above 0")]
    [InlineData("""{"settings":{"scoreHalfLifeDays":-1},"topics":[{"id":"t"}]}""", "settings.scoreHalfLifeDays: a number of days above 0")]
    public void InvalidCatalogIsRefusedWithErrorsNamingTopicRuleAndField(string json, string expectedError)
    {
        var result = Parse(json);

        Assert.Null(result.Catalog);
        Assert.Contains(result.Errors, e => e.StartsWith(expectedError, StringComparison.Ordinal));
    }

    private static CatalogParseResult Parse(string json) => TopicCatalog.Parse(Encoding.UTF8.GetBytes(json));
}

internal static class CatalogSamples
{
    /// <summary>The catalog shape given in the foundation issue.</summary>
    public const string OledCatalog = """
        {"stages": ["awareness", "interest", "consideration", "purchase"],
         "topics": [{"id": "tv-oled-55", "name": "55-inch OLED TV", "rules": [
           {"channel": "web", "match": {"path": "/tv/oled-55"}, "stage": 1},
           {"channel": "web", "match": {"path": "/tv/oled-55/specs*"}, "stage": 2},
           {"channel": "web", "match": {"event": "Product Added", "properties": {"sku": "oled-55"}}, "stage": 3},
           {"channel": "email", "match": {"campaign": "oled-launch", "action": "open"}, "stage": 1},
           {"channel": "email", "match": {"campaign": "oled-launch", "action": "click"}, "stage": 2},
           {"channel": "mobile", "match": {"screen": "OledDetail"}, "stage": 2},
           {"match": {"event": "Order Completed", "properties": {"sku": "oled-55"}}, "stage": 4}]}]}
        """;

    public static TopicCatalog Oled(long version = 1) => TopicCatalog.Parse(Encoding.UTF8.GetBytes(OledCatalog), version).Catalog!;
}
