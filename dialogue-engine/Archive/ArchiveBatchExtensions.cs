using Ecrm.Common.Archive;
using Ecrm.Common.Catalog;
using Ecrm.Common.Events;

namespace Ecrm.DialogueEngine.Archive;

public static class ArchiveBatchExtensions
{
    /// <summary>Adds a raw event with the topics and stages the catalog matched it to.</summary>
    public static void AddEvent(this ArchiveBatch batch, EventEnvelope item, ReadOnlyMemory<byte> payload, IReadOnlyList<TopicStage> matches, int partition, long offset)
    {
        var topics = new string[matches.Count];
        var stages = new byte[matches.Count];
        for (var i = 0; i < matches.Count; i++)
        {
            topics[i] = matches[i].Topic;
            stages[i] = (byte)matches[i].Stage;
        }

        batch.AddEvent(item, payload, topics, stages, partition, offset);
    }
}
