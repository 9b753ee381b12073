using System.Collections.Generic;
using System.Diagnostics.Metrics;

namespace M3ter.Auth.StackExchangeRedis.Internal;

/// <summary>The Redis cache's instruments, on a meter named <c>M3ter.Auth</c> like the core's, so <c>AddMeter("M3ter.Auth")</c> sees them all.</summary>
internal static class M3terRedisTokenCacheDiagnostics
{
    public static readonly Meter Meter = new("M3ter.Auth");

    /// <summary>Redis calls that failed or timed out, and entries that did not decrypt, tagged <c>error.type</c>.</summary>
    public static readonly Counter<long> Errors = Meter.CreateCounter<long>(
        "m3ter.auth.shared_cache.errors", unit: "{error}", description: "Shared token cache calls that failed, timed out or found an unreadable entry (each treated as a miss).");

    public static void RecordError(string errorType) =>
        Errors.Add(1, new KeyValuePair<string, object?>("error.type", errorType));
}
