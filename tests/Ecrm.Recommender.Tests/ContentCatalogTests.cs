using Ecrm.Recommender.Content;
using Xunit;

namespace Ecrm.Recommender.Tests;

public sealed class ContentCatalogTests
{
    [Fact]
    public void DemoContentCatalogIsValid()
    {
        var (catalog, errors) = ContentCatalog.Parse(File.ReadAllText(Testing.RepoPaths.Combine("dev", "demo", "content-catalog.json")));

        Assert.Empty(errors);
        Assert.NotEmpty(catalog!.For("tv-oled-55", 3));
    }

    [Theory]
    [InlineData("""{"items":[{"id":"a","title":"A","url":"/a","topic":"t","stage":0}]}""", "item 'a'.stage")]
    [InlineData("""{"items":[{"id":"a","title":"A","url":"javascript:alert(1)","topic":"t","stage":1}]}""", "item 'a'.url")]
    [InlineData("""{"items":[{"id":"a","url":"/a","topic":"t","stage":1}]}""", "item 'a'.title: required")]
    [InlineData("""{"items":[{"id":"a","title":"A","url":"/a","stage":1}]}""", "item 'a'.topic: required")]
    [InlineData("""{"items":[{"id":"a","title":"A","url":"/a","topic":"t","stage":1},{"id":"a","title":"A","url":"/a","topic":"t","stage":1}]}""", "item 'a'.id: duplicate id")]
    [InlineData("""{"items":[{"id":"a","title":"A","url":"/a","topic":"t","stage":1,"activeFrom":"2026-02-01T00:00:00Z","activeTo":"2026-01-01T00:00:00Z"}]}""", "item 'a'.activeTo")]
    [InlineData("""{"items":[{"id":"a b"}]}""", "items[0].id")]
    [InlineData("""{"things":[]}""", "items: required")]
    [InlineData("""[""", "content catalog is not valid JSON")]
    public void InvalidContentIsRefusedWithErrorsNamingItemAndField(string json, string expectedError)
    {
        var (catalog, errors) = ContentCatalog.Parse(json);

        Assert.Null(catalog);
        Assert.Contains(errors, e => e.StartsWith(expectedError, StringComparison.Ordinal));
    }
}
