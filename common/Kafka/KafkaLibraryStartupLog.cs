using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Ecrm.Common.Kafka;

/// <summary>
/// Says at start-up which librdkafka the process is bound to, and from where: a client that binds an
/// old system library fails only later, at its first Consume, so the log line is where to look first.
/// </summary>
public sealed partial class KafkaLibraryStartupLog(ILogger<KafkaLibraryStartupLog> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        // Described even when the line is not logged: it binds the library at start-up, not at the first client.
        var library = KafkaNativeLibrary.Describe();
        LogKafkaLibrary(library);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Information, Message = "Kafka client: {Library}")]
    private partial void LogKafkaLibrary(string library);
}
