namespace Ecrm.Testing;

/// <summary>Waits for something the system does in its own time, with a deadline, instead of sleeping a fixed while.</summary>
public static class Poll
{
    /// <summary>
    /// Polls <paramref name="condition"/> until it holds; throws <see cref="TimeoutException"/>, with
    /// <paramref name="explain"/>'s text, when it has not by the deadline. While a store is not ready
    /// (an archive table not created yet, a service not answering yet) the condition may throw.
    /// </summary>
    public static async Task UntilAsync(string what, Func<Task<bool>> condition, TimeSpan? timeout = null, Func<string>? explain = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(30);
        var deadline = DateTime.UtcNow + limit;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if (await condition())
                {
                    return;
                }
            }
            catch (Exception e) when (e is InvalidOperationException or HttpRequestException or KeyNotFoundException)
            {
                // Not ready yet.
            }

            await Task.Delay(50);
        }

        throw new TimeoutException($"{what}: not within {limit.TotalSeconds:F0} s{(explain is null ? "" : "\n" + explain())}");
    }
}
