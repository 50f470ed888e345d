using Ecrm.Common.Catalog;
using Ecrm.Common.Storage;
using Microsoft.Extensions.Options;

namespace Ecrm.DialogueEngine.Catalog;

/// <summary>The running topic catalog, with its rule index built once per version.</summary>
public sealed class CatalogHolder(VersionedDocuments documents, IOptions<EngineOptions> options, ILogger<CatalogHolder> logger)
    : PublishedDocument<TopicMatcher>(documents, TopicCatalog.DocumentName, TimeSpan.FromMilliseconds(options.Value.CatalogPollMs), logger)
{
    public TopicMatcher Matcher => Current;

    public TopicCatalog Catalog => Current.Catalog;

    protected override string? SeedFile => options.Value.CatalogSeedFile;

    protected override TopicMatcher Empty { get; } = new(TopicCatalog.Empty);

    protected override (TopicMatcher? Value, IReadOnlyList<string> Errors) Parse(string document, long version)
    {
        var parsed = TopicCatalog.Parse(document, version);
        return (parsed.Catalog is null ? null : new TopicMatcher(parsed.Catalog), parsed.Errors);
    }
}
