using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Ecrm.Common.Archive;
using Ecrm.Common.Events;
using Ecrm.Common.Storage;
using Ecrm.Testing;
using StackExchange.Redis;

namespace Ecrm.IntegrationTests;

/// <summary>
/// One fault's line of the table: every acknowledged event of its traffic looked up in Kafka, the Redis
/// dialogues and the ClickHouse archive. Found: acknowledged events present in all three. Duplicates:
/// events counted more than once in Redis or the archive. Kafka copies (a message re-sent from the
/// collector's spool) are allowed by design, since every store counts a message id once, and are shown apart.
/// </summary>
public sealed record DeliveryRow(string Fault, int Acknowledged, int Found, int Duplicates, int KafkaCopies, TimeSpan Recovery, string Details)
{
    public int Lost => Acknowledged - Found;

    public const string Header = "fault                                                        | acknowledged | found  | lost | duplicates | time to recover | Kafka copies";

    public override string ToString() =>
        $"{Fault,-60} | {Acknowledged,12} | {Found,6} | {Lost,4} | {Duplicates,10} | {Recovery.TotalSeconds,13:F1} s | {KafkaCopies,12}";
}

/// <summary>Looks up a <see cref="JourneyTraffic"/> run's acknowledged events in Kafka, Redis and ClickHouse.</summary>
public sealed class DeliveryAudit(EcrmServices stack, string bootstrapServers, ClickHouseFixture clickHouse, IConnectionMultiplexer redis)
{
    private static readonly string[] EmailEvents = ["Email Opened", "Email Link Clicked"];

    private readonly DialogueReader _dialogues = new(redis);

    /// <summary>Waits until every acknowledged event of the run is folded into Redis and archived; returns how long that took.</summary>
    public async Task<TimeSpan> WaitUntilDeliveredAsync(JourneyTraffic traffic, TimeSpan timeout)
    {
        var started = DateTime.UtcNow;
        int unarchived = -1, unfolded = -1;
        await Poll.UntilAsync($"{traffic.Run}: every acknowledged event folded and archived", async () =>
        {
            var archived = await ArchivedAsync(traffic.Run);
            unarchived = traffic.Journeys.Sum(j => j.MessageIds.Count(id => !archived.Rows.ContainsKey(id)));
            try
            {
                var folded = await Task.WhenAll(traffic.Journeys.Select(async j => (await RedisAsync(j)).Found >= Acknowledged(j)));
                unfolded = folded.Count(f => !f);
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                // Redis is still loading its append-only file after a restart.
                return false;
            }

            return unarchived == 0 && unfolded == 0;
        }, timeout, () => $"""
            {unarchived} acknowledged Segment events not archived, {unfolded} of {traffic.Journeys.Count} journeys not folded in full
            collector metrics:
            {Metrics(stack.ManagementUrl("collector"))}
            engine metrics:
            {Metrics(stack.ManagementUrl("dialogue-engine"))}
            collector log:
            {Tail("collector")}
            engine log:
            {Tail("dialogue-engine")}
            """);
        return DateTime.UtcNow - started;
    }

    private static string Metrics(Uri service)
    {
        try
        {
            using var http = new HttpClient { BaseAddress = service, Timeout = TimeSpan.FromSeconds(5) };
            return string.Join('\n', http.GetStringAsync("metrics").GetAwaiter().GetResult().Split('\n')
                .Where(line => line.StartsWith("ecrm_", StringComparison.Ordinal)));
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return $"(no answer: {e.Message})";
        }
    }

    /// <summary>The end of a service's log; the whole of it goes to tests/artifacts for a closer look.</summary>
    private string Tail(string service)
    {
        var log = SaveLog(service);
        return log.Length <= 6000 ? log : log[^6000..];
    }

    /// <summary>Keeps the service's log (its last 100-200 KB) in tests/artifacts, for a look after the run, passed or failed.</summary>
    public string SaveLog(string service)
    {
        var log = stack.Logs(service);
        var artifacts = Directory.CreateDirectory(RepoPaths.Combine("tests", "artifacts")).FullName;
        File.WriteAllText(Path.Combine(artifacts, $"fault-suite-{service}.log"), log);
        return log;
    }

    /// <summary>Every message of the stack's events topic, read once from the start: copies per message id, and per (customer, email event).</summary>
    public Task<KafkaContents> ReadKafkaAsync() => Task.Run(() =>
    {
        var contents = new KafkaContents();
        foreach (var value in EventsTopic.ReadValues(bootstrapServers, stack.Topic, TimeSpan.FromSeconds(90)))
        {
            var envelope = JsonSerializer.Deserialize(value, EcrmJsonContext.Default.EventEnvelope)!;
            contents.Messages[envelope.MessageId!] = contents.Messages.GetValueOrDefault(envelope.MessageId!) + 1;
            if (envelope.Channel == Channel.Email)
            {
                var key = (envelope.UserId!, envelope.Event!);
                var ids = contents.Emails.TryGetValue(key, out var seen) ? seen : contents.Emails[key] = [];
                ids.Add(envelope.MessageId!);
            }
        }

        return contents;
    });

    public sealed class KafkaContents
    {
        public Dictionary<string, int> Messages { get; } = new(StringComparer.Ordinal);

        public Dictionary<(string Customer, string Event), List<string>> Emails { get; } = [];

        /// <summary>
        /// Folds in a later read of the topic, keeping per message the most copies either read saw: the
        /// mock brokers drop a partition's oldest segments once it holds a few MB, so a long soak reads the
        /// topic after each round, before what that round produced can be dropped.
        /// </summary>
        public void Add(KafkaContents later)
        {
            foreach (var (id, copies) in later.Messages)
            {
                Messages[id] = Math.Max(copies, Messages.GetValueOrDefault(id));
            }

            foreach (var (key, ids) in later.Emails)
            {
                var known = Emails.TryGetValue(key, out var seen) ? seen : Emails[key] = [];
                foreach (var group in ids.GroupBy(id => id, StringComparer.Ordinal))
                {
                    var missing = group.Count() - known.Count(id => id == group.Key);
                    known.AddRange(Enumerable.Repeat(group.Key, Math.Max(0, missing)));
                }
            }
        }
    }

    /// <summary>The archive's raw events of a run, as the readers see them (FINAL): rows per message id, and per (customer, email event).</summary>
    public async Task<ArchiveContents> ArchivedAsync(string run)
    {
        var sql = $"""
            SELECT message_id, user_id, event, channel, count() FROM {stack.ClickHouseDatabase}.events FINAL
            WHERE user_id LIKE {ArchiveSql.Quote($"fs-{run}-%")} OR anonymous_id LIKE {ArchiveSql.Quote($"anon-fs-{run}-%")}
            GROUP BY message_id, user_id, event, channel FORMAT TabSeparated
            """;
        var contents = new ArchiveContents();
        foreach (var line in (await clickHouse.QueryAsync(sql)).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var fields = line.Split('\t');
            var rows = int.Parse(fields[4], CultureInfo.InvariantCulture);
            contents.Rows[fields[0]] = contents.Rows.GetValueOrDefault(fields[0]) + rows;
            if (fields[3] == "email")
            {
                var key = (fields[1], fields[2]);
                contents.Emails[key] = contents.Emails.GetValueOrDefault(key) + rows;
            }
        }

        return contents;
    }

    public sealed class ArchiveContents
    {
        public Dictionary<string, int> Rows { get; } = new(StringComparer.Ordinal);

        public Dictionary<(string Customer, string Event), int> Emails { get; } = [];
    }

    /// <summary>Checks every acknowledged event of the run in the three stores.</summary>
    public async Task<DeliveryRow> CheckAsync(string fault, JourneyTraffic traffic, TimeSpan recovery, KafkaContents kafka)
    {
        var archive = await ArchivedAsync(traffic.Run);
        var problems = new StringBuilder();
        int acknowledged = 0, found = 0, duplicates = 0, copies = 0;
        foreach (var journey in traffic.Journeys)
        {
            acknowledged += Acknowledged(journey);
            var redisCheck = await RedisAsync(journey);
            int inKafka = 0, inArchive = 0, doubled = redisCheck.Duplicates;
            foreach (var id in journey.MessageIds)
            {
                var kafkaCopies = kafka.Messages.GetValueOrDefault(id);
                var rows = archive.Rows.GetValueOrDefault(id);
                inKafka += Math.Min(kafkaCopies, 1);
                copies += Math.Max(0, kafkaCopies - 1);
                inArchive += Math.Min(rows, 1);
                doubled += Math.Max(0, rows - 1);
            }

            foreach (var (name, (acknowledgedEmails, attempts)) in journey.Emails)
            {
                // An email request left unanswered by a crash may have been recorded: a count between
                // the answered requests and all requests is right; more is a duplicate.
                var sent = kafka.Emails.GetValueOrDefault((journey.Customer, name)) ?? [];
                var rows = archive.Emails.GetValueOrDefault((journey.Customer, name));
                inKafka += Math.Min(sent.Distinct().Count(), acknowledgedEmails);
                copies += sent.Count - sent.Distinct().Count();
                inArchive += Math.Min(rows, acknowledgedEmails);
                doubled += Math.Max(0, rows - attempts);
            }

            var journeyFound = Math.Min(Math.Min(inKafka, inArchive), redisCheck.Found);
            found += journeyFound;
            duplicates += doubled;
            if ((journeyFound < Acknowledged(journey) || doubled > 0) && problems.Length < 4000)
            {
                problems.AppendLine(CultureInfo.InvariantCulture,
                    $"{journey.Customer}: acknowledged {Acknowledged(journey)}, in Kafka {inKafka}, archived {inArchive}, in Redis {redisCheck.Found} ({redisCheck.Details}), doubled {doubled}");
            }
        }

        return new DeliveryRow(fault, acknowledged, found, duplicates, copies, recovery, problems.ToString());
    }

    private static int Acknowledged(JourneyTraffic.Journey journey) => journey.MessageIds.Count + journey.Emails.Values.Sum(e => e.Acknowledged);

    /// <summary>
    /// A journey in Redis: the customer's tv-oled-55 dialogue counts each folded interaction per channel,
    /// and the identify shows as the visitor's link to the customer.
    /// </summary>
    private async Task<(int Found, int Duplicates, string Details)> RedisAsync(JourneyTraffic.Journey journey)
    {
        var dialogue = (await _dialogues.ReadResolvedAsync(journey.Customer)).FirstOrDefault(d => d.Topic == JourneyTraffic.Topic);
        var interactions = dialogue?.InteractionsByChannel ?? new Dictionary<string, long>();
        int found = 0, duplicates = 0;
        foreach (var (channel, expected) in JourneyTraffic.SegmentInteractions)
        {
            var counted = (int)interactions.GetValueOrDefault(channel);
            found += Math.Min(counted, expected);
            duplicates += Math.Max(0, counted - expected);
        }

        var emails = (int)interactions.GetValueOrDefault("email");
        found += Math.Min(emails, journey.Emails.Values.Sum(e => e.Acknowledged));
        duplicates += Math.Max(0, emails - journey.Emails.Values.Sum(e => e.Attempts));
        var linked = await _dialogues.ResolveAsync(journey.AnonymousId) == journey.Customer;
        found += linked ? 1 : 0;
        return (found, duplicates, $"{string.Join(',', interactions.Select(i => $"{i.Key}={i.Value}"))}, linked {linked}");
    }

    /// <summary>The funnels API's customers per stage of the journeys' topic.</summary>
    public async Task<int[]> FunnelAsync()
    {
        using var reader = EcrmServices.Client(stack.EngineUrl, EcrmServices.ApiKey);
        var funnel = await reader.GetFromJsonAsync<JsonElement>($"api/funnels/{JourneyTraffic.Topic}");
        return funnel.GetProperty("stages").EnumerateArray().Select(s => s.GetProperty("customers").GetInt32()).ToArray();
    }
}
