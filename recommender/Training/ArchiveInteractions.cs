using Ecrm.Common.Archive;
using Ecrm.Recommender.Models;

namespace Ecrm.Recommender.Training;

/// <summary>
/// Reads training interactions from the dialogue engine's ClickHouse archive: one per (customer, topic),
/// the customer resolved through the identity links (an anonymous visitor's events count for the
/// customer they became), the weight the deepest stage reached (view &lt; details &lt; cart &lt; purchase),
/// the time the last interaction.
/// </summary>
public sealed class ArchiveInteractions(ArchiveClient clickHouse)
{
    public async Task<List<Interaction>> ReadAsync(DateTimeOffset? since, CancellationToken cancellationToken)
    {
        var interactions = new List<Interaction>();
        await foreach (var i in RecommenderArchive.ReadInteractionsAsync(clickHouse, since, cancellationToken))
        {
            interactions.Add(new Interaction(i.Customer, i.Topic, i.DeepestStage, i.Last));
        }

        return interactions;
    }
}
