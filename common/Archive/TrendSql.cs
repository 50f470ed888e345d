namespace Ecrm.Common.Archive;

/// <summary>
/// Stage entries per day or week (columns <c>date</c>, <c>stage</c>, <c>ch</c>, <c>entries</c>) from the
/// archived transitions. A jump from stage 1 to 3 enters stages 2 and 3; each customer (after identity
/// resolution) enters a stage once per episode, on the day they first did.
/// </summary>
public static class TrendSql
{
    public static string Build(string db, string topic, FunnelQuery request, bool weekly, bool byChannel)
    {
        var from = request.From.ToUnixTimeSeconds();
        var to = request.To.ToUnixTimeSeconds();
        var channelFilter = request.Channel is null ? "" : $" AND channel = {ArchiveSql.Quote(request.Channel)}";
        var bucket = weekly ? "toMonday(day)" : "day";
        var channel = byChannel ? "channel" : "''";
        return
            $"""
            SELECT toString({bucket}) AS date, stage, ch, toUInt32(count()) AS entries
            FROM (
                SELECT customer, episode, stage, {channel} AS ch, min(toDate(timestamp)) AS day
                FROM (
                    SELECT if(owner = '', customer_key, owner) AS customer, episode, stage, channel, timestamp
                    FROM (
                        SELECT customer_key, episode, channel, timestamp, stage
                        FROM {db}.{ArchiveSchema.Transitions} FINAL
                        ARRAY JOIN arrayMap(i -> toUInt8(i + from_stage + 1), range(toUInt64(to_stage - from_stage))) AS stage
                        WHERE topic = {ArchiveSql.Quote(topic)} AND timestamp >= toDateTime({from}) AND timestamp < toDateTime({to}){channelFilter}
                    )
                    ANY LEFT JOIN ({FunnelSql.LinksSql(db)}) USING customer_key
                )
                GROUP BY customer, episode, stage, ch
            )
            GROUP BY date, stage, ch
            ORDER BY date, stage, ch
            FORMAT JSONEachRow
            """;
    }
}
