using Ecrm.Common.Events;
using Ecrm.Common.Hosting;
using Ecrm.Common.Storage;
using Ecrm.DialogueEngine.Catalog;
using Ecrm.DialogueEngine.Folding;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Ecrm.DialogueEngine.Tests;

/// <summary>The engine's folding parts on a test's Redis, wired as the engine wires them (default options).</summary>
internal static class Folding
{
    public static DialogueStore Store(IConnectionMultiplexer redis) => new(redis, new EngineOptions().Dedupe);

    public static DialogueFolder Folder(IConnectionMultiplexer redis) => new(Store(redis));

    public static IdentityLinker Linker(IConnectionMultiplexer redis) => new(redis, Store(redis));

    public static BatchFolder Batch(IConnectionMultiplexer redis, AuthOptions? auth = null) =>
        new(Folder(redis), Store(redis), Linker(redis), Options.Create(auth ?? new AuthOptions()), NullLogger<BatchFolder>.Instance);

    /// <summary>Folds one event that came without a Kafka position (as a replay does).</summary>
    public static async Task<FoldOutcome> FoldOneAsync(this DialogueFolder folder, EventEnvelope item, TopicMatcher matcher) =>
        (await folder.FoldAsync([new FoldItem(item, -1, -1)], matcher))[0];
}
