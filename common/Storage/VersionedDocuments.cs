using StackExchange.Redis;

namespace Ecrm.Common.Storage;

/// <summary>
/// Catalogs (topics, content) are JSON documents kept in Redis with a version number per change, so
/// every instance of every service sees the same catalog and a change needs no restart.
/// </summary>
public sealed class VersionedDocuments(IConnectionMultiplexer redis)
{
    // One script so that the number, the document and the pointer to it change together.
    private static readonly LuaScript PublishScript = LuaScript.Prepare(
        """
        local version = redis.call('INCR', @sequence)
        redis.call('SET', @prefix .. version, @document)
        redis.call('SET', @current, version)
        return version
        """);

    private static readonly LuaScript ReadScript = LuaScript.Prepare(
        """
        local version = redis.call('GET', @current)
        if not version then return false end
        return {version, redis.call('GET', @prefix .. version)}
        """);

    /// <summary>Stores a new version of the named document and makes it current.</summary>
    public async Task<long> PublishAsync(string name, string document)
    {
        var result = await redis.GetDatabase().ScriptEvaluateAsync(PublishScript, new
        {
            sequence = RedisKeys.CatalogSequence(name),
            current = RedisKeys.CatalogCurrent(name),
            prefix = (RedisKey)RedisKeys.CatalogVersionPrefix(name),
            document,
        });
        return (long)result;
    }

    /// <summary>The current version number alone: cheap enough to poll.</summary>
    public async Task<long> CurrentVersionAsync(string name)
    {
        var value = await redis.GetDatabase().StringGetAsync(RedisKeys.CatalogCurrent(name));
        return value.IsNull ? 0 : (long)value;
    }

    public async Task<(long Version, string Document)?> ReadCurrentAsync(string name)
    {
        var result = await redis.GetDatabase().ScriptEvaluateAsync(ReadScript, new
        {
            current = RedisKeys.CatalogCurrent(name),
            prefix = (RedisKey)RedisKeys.CatalogVersionPrefix(name),
        });
        if (result.IsNull)
        {
            return null;
        }

        var parts = (RedisResult[])result!;
        return ((long)parts[0], (string)parts[1]!);
    }
}
