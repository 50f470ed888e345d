using System.Text.Json;

namespace Ecrm.Common.Catalog;

/// <summary>A topic an event is about and the stage it shows.</summary>
public readonly record struct TopicStage(string Topic, int Stage);

/// <summary>
/// The ordered stages every channel shares. Stage numbers are 1-based positions; 0 means "no stage yet".
/// The last stage is conversion.
/// </summary>
public sealed class StageScale
{
    public static readonly StageScale Default = new(["awareness", "interest", "consideration", "purchase"]);

    public StageScale(IReadOnlyList<string> names) => Names = names;

    public IReadOnlyList<string> Names { get; }

    public int Count => Names.Count;

    public int Last => Names.Count;

    public string NameOf(int stage) => stage >= 1 && stage <= Names.Count ? Names[stage - 1] : "none";

    /// <summary>Reads a stage given as a 1-based number or as a stage name (case-insensitive).</summary>
    public bool TryResolve(JsonElement value, out int stage)
    {
        stage = 0;
        switch (value.ValueKind)
        {
            case JsonValueKind.Number when value.TryGetInt32(out var number) && number >= 1 && number <= Count:
                stage = number;
                return true;
            case JsonValueKind.String:
                return TryResolve(value.GetString(), out stage);
            default:
                return false;
        }
    }

    public bool TryResolve(string? value, out int stage)
    {
        stage = 0;
        if (string.IsNullOrWhiteSpace(value))
        {
            return false;
        }

        if (int.TryParse(value, out var number))
        {
            stage = number;
            return number >= 1 && number <= Count;
        }

        for (var i = 0; i < Names.Count; i++)
        {
            if (string.Equals(Names[i], value, StringComparison.OrdinalIgnoreCase))
            {
                stage = i + 1;
                return true;
            }
        }

        return false;
    }
}
