using System;
using Microsoft.Extensions.Logging;

namespace M3ter.Auth.StackExchangeRedis.Internal;

/// <summary>The Redis cache's log messages. None of them takes a secret, a token or the configuration string.</summary>
internal static partial class Log
{
    [LoggerMessage(101, LogLevel.Warning, "The shared m3ter token cache (Redis) is unavailable ({Reason}); each process fetches its own tokens meanwhile, and Redis is tried again in {BreakDuration}.", EventName = "RedisUnavailable")]
    public static partial void Unavailable(ILogger logger, string reason, TimeSpan breakDuration);

    [LoggerMessage(102, LogLevel.Information, "The shared m3ter token cache (Redis) is available again.", EventName = "RedisRecovered")]
    public static partial void Recovered(ILogger logger);

    [LoggerMessage(103, LogLevel.Warning, "A shared m3ter token entry in Redis could not be decrypted (tampered with, or not written by M3ter.Auth); treated as a miss.", EventName = "RedisEntryUnreadable")]
    public static partial void EntryUnreadable(ILogger logger);
}
