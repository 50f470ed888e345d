using Confluent.Kafka;
using Microsoft.Extensions.Logging;

namespace Ecrm.Common.Hosting;

/// <summary>
/// Routes librdkafka's own log lines (connection losses, group rebalances, and the contexts named in
/// <see cref="KafkaOptions.Debug"/>) into the service's structured log, instead of the bare lines
/// Confluent.Kafka writes to standard error by default.
/// </summary>
public static partial class KafkaClientLogs
{
    /// <summary>A handler for <c>SetLogHandler</c> on any Kafka client builder.</summary>
    public static Action<IClient, LogMessage> To(ILogger logger) => (_, message) =>
    {
        var level = ToLogLevel(message.Level);
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

    public static LogLevel ToLogLevel(SyslogLevel level) => level switch
    {
        SyslogLevel.Emergency or SyslogLevel.Alert or SyslogLevel.Critical => LogLevel.Critical,
        SyslogLevel.Error => LogLevel.Error,
        SyslogLevel.Warning => LogLevel.Warning,
        SyslogLevel.Notice or SyslogLevel.Info => LogLevel.Information,
        _ => LogLevel.Debug,
    };

    [LoggerMessage(Message = "librdkafka {Client} {Facility}: {Text}")]
    private static partial void LogClientMessage(ILogger logger, LogLevel level, string client, string facility, string text);
}
