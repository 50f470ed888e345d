namespace Ecrm.Common.Events;

/// <summary>What a message on the transitions topic announces.</summary>
public static class DialogueChangeKinds
{
    /// <summary>A dialogue moved to a deeper stage (or opened a new episode at a stage).</summary>
    public const string Stage = "stage";

    /// <summary>An id was linked to a customer: its dialogues merged into the customer's.</summary>
    public const string Link = "link";
}

/// <summary>
/// One message on the transitions topic (<c>ecrm.dialogue.transitions</c>), keyed by customer: the
/// contract between the dialogue engine and everything downstream (the archive, the recommender,
/// trigger consumers). A message can arrive twice after a crash: dedupe on (messageId, topic, kind).
/// </summary>
public sealed record DialogueChange
{
    // set, not init, where a default matters: the source-generated reader assigns every init property, defaults included.
    public string Kind { get; set; } = DialogueChangeKinds.Stage;

    public required string Customer { get; init; }

    /// <summary>The topic of a stage change; empty for a link.</summary>
    public string Topic { get; init; } = "";

    public int FromStage { get; init; }

    public int ToStage { get; init; }

    /// <summary>1 for a dialogue's first episode; a new interaction after conversion or dormancy opens the next.</summary>
    public int Episode { get; set; } = 1;

    public string Channel { get; init; } = "";

    /// <summary>The event that caused the change.</summary>
    public required string MessageId { get; init; }

    public DateTimeOffset Timestamp { get; init; }

    /// <summary>The topic catalog version that mapped the event.</summary>
    public long CatalogVersion { get; init; }

    /// <summary>For a link: the id (anonymous or an earlier alias) now belonging to <see cref="Customer"/>.</summary>
    public string? LinkedId { get; init; }
}
