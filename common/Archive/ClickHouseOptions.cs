using System.ComponentModel.DataAnnotations;

namespace Ecrm.Common.Archive;

public sealed record ClickHouseOptions : IValidatableObject
{
    public const string Section = "ClickHouse";

    [Required, Url]
    public string Url { get; init; } = "http://127.0.0.1:8123";

    [Required, RegularExpression("^[A-Za-z_][A-Za-z0-9_]{0,63}$", ErrorMessage = "ClickHouse:Database must be a plain identifier")]
    public string Database { get; init; } = "ecrm";

    public string User { get; init; } = "default";

    public string Password { get; init; } = "";

    /// <summary>
    /// The cluster (a name in the servers' <c>remote_servers</c>) the archive is sharded over; empty
    /// for one server. With a cluster, <see cref="Url"/> is the server queries and inserts go to.
    /// </summary>
    [RegularExpression("^([A-Za-z_][A-Za-z0-9_]{0,63})?$", ErrorMessage = "ClickHouse:Cluster must be a plain identifier")]
    public string Cluster { get; init; } = "";

    /// <summary>
    /// The HTTP URL of every server of <see cref="Cluster"/>: tables are created and rows deleted on
    /// each directly (ClickHouse 18.16 has no distributed DDL without ZooKeeper, and mutations do not
    /// go through Distributed tables).
    /// </summary>
    public IReadOnlyList<string> ServerUrls { get; init; } = [];

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Cluster.Length > 0 && ServerUrls.Count == 0)
        {
            yield return new ValidationResult("ClickHouse:ServerUrls must list the HTTP URL of every server of ClickHouse:Cluster", [nameof(ServerUrls)]);
        }

        if (Cluster.Length == 0 && ServerUrls.Count > 0)
        {
            yield return new ValidationResult("ClickHouse:ServerUrls is only for a cluster; set ClickHouse:Cluster too", [nameof(ServerUrls)]);
        }

        foreach (var url in ServerUrls.Where(u => !Uri.TryCreate(u, UriKind.Absolute, out var parsed) || parsed.Scheme is not ("http" or "https")))
        {
            yield return new ValidationResult($"ClickHouse:ServerUrls: '{url}' is not an http(s) URL", [nameof(ServerUrls)]);
        }
    }
}
