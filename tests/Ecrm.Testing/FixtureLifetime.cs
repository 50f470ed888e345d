using Xunit;

namespace Ecrm.Testing;

public static class FixtureLifetime
{
    /// <summary>
    /// Runs a test class's set-up, and its own <see cref="IAsyncLifetime.DisposeAsync"/> when the set-up
    /// throws: xunit disposes only what initialized, so a stack started before the failing step would
    /// run on, orphaned, loading the machine for the rest of the run (two replay stacks did, for an
    /// hour, after a set-up failed). DisposeAsync must therefore cope with a half-done set-up.
    /// </summary>
    public static async Task InitializeOrDisposeAsync(this IAsyncLifetime owner, Func<Task> initialize)
    {
        try
        {
            await initialize();
        }
        catch
        {
            await owner.DisposeAsync();
            throw;
        }
    }
}
