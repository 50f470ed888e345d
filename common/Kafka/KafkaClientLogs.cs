using Confluent.Kafka;
using Ecrm.Common.Hosting;
using Microsoft.Extensions.Logging;

namespace Ecrm.Common.Kafka;

/// <summary>
/// Routes librdkafka's own log lines (connection losses, group rebalances, and the contexts named in
/// <see cref="KafkaOptions.Debug"/>) into the service's structured log, instead of the bare lines
/// Confluent.Kafka writes to standard error by default.
/// </summary>
internal static partial class KafkaClientLogs
{
    /// <summary>A handler for <c>SetLogHandler</c> on any Kafka client builder.</summary>
    public static Action<IClient, LogMessage> To(ILogger logger) => (_, message) =>
    {
        // librdkafka logs a broker failure (FAIL, ERROR) and also hands it to the client's error
        // handler, which every Ecrm client logs: the log line is kept for debugging only.
        var level = message.Facility is "FAIL" or "ERROR" ? LogLevel.Debug : ToLogLevel(message.Level);
        if (logger.IsEnabled(level))
        {
            LogClientMessage(logger, level, message.Name, message.Facility, message.Message);
        }
    };

    /// <summary>Turns on the debug contexts the options name, if any (librdkafka refuses an empty list).</summary>
    public static T WithDebugContexts<T>(this T config, KafkaOptions options) where T : ClientConfig
    {
        if (options.Debug.Length > 0)
        {
            config.Debug = options.Debug;
        }

        return config;
    }

    /// <summary>A handler for <c>SetErrorHandler</c> for a client with nothing more to say about an error than librdkafka's reason.</summary>
    public static Action<IClient, Error> ErrorsTo(ILogger logger) => (client, error) => LogClientError(logger, client.Name, error.IsFatal, error.Reason);

    private static LogLevel ToLogLevel(SyslogLevel level) => level switch
    {
        SyslogLevel.Emergency or SyslogLevel.Alert or SyslogLevel.Critical => LogLevel.Critical,
        SyslogLevel.Error => LogLevel.Error,
        SyslogLevel.Warning => LogLevel.Warning,
        SyslogLevel.Notice or SyslogLevel.Info => LogLevel.Information,
        _ => LogLevel.Debug,
    };

    [LoggerMessage(Level = LogLevel.Warning, Message = "Kafka client {Client} error (fatal: {IsFatal}): {Reason}")]
    private static partial void LogClientError(ILogger logger, string client, bool isFatal, string reason);

    [LoggerMessage(Message = "librdkafka {Client} {Facility}: {Text}")]
    private static partial void LogClientMessage(ILogger logger, LogLevel level, string client, string facility, string text);
}
