using Ecrm.Common.Catalog;
using Ecrm.Common.Storage;
using Microsoft.Extensions.Options;

namespace Ecrm.Recommender.Content;

/// <summary>The running content catalog.</summary>
public sealed class ContentHolder(VersionedDocuments documents, IOptions<RecommenderOptions> options, ILogger<ContentHolder> logger)
    : PublishedDocument<ContentCatalog>(documents, ContentCatalog.DocumentName, TimeSpan.FromMilliseconds(options.Value.CatalogPollMs), logger)
{
    protected override string? SeedFile => options.Value.ContentSeedFile;

    protected override ContentCatalog Empty => ContentCatalog.Empty;

    protected override (ContentCatalog? Value, IReadOnlyList<string> Errors) Parse(string document, long version) => ContentCatalog.Parse(document);
}

/// <summary>The topic catalog the dialogue engine publishes, read here for topic names and the stage scale.</summary>
public sealed class TopicCatalogView(VersionedDocuments documents, IOptions<RecommenderOptions> options, ILogger<TopicCatalogView> logger)
    : PublishedDocument<TopicCatalog>(documents, TopicCatalog.DocumentName, TimeSpan.FromMilliseconds(options.Value.CatalogPollMs), logger)
{
    protected override TopicCatalog Empty => TopicCatalog.Empty;

    protected override (TopicCatalog? Value, IReadOnlyList<string> Errors) Parse(string document, long version)
    {
        var parsed = TopicCatalog.Parse(document, version);
        return (parsed.Catalog, parsed.Errors);
    }
}
