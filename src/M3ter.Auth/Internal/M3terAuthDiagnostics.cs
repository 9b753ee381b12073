using System.Collections.Generic;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace M3ter.Auth.Internal;

/// <summary>The package's <see cref="Meter"/> and <see cref="ActivitySource"/>, both named <c>M3ter.Auth</c>.</summary>
internal static class M3terAuthDiagnostics
{
    public const string Name = "M3ter.Auth";

    public static readonly ActivitySource ActivitySource = new(Name);

    public static readonly Meter Meter = new(Name);

    /// <summary>Token requests sent (each attempt, retries and timed-out ones included), tagged with the outcome and the token endpoint's host.</summary>
    public static readonly Counter<long> TokenRequests = Meter.CreateCounter<long>(
        "m3ter.auth.token.requests", unit: "{request}", description: "Requests sent to the m3ter token endpoint.");

    /// <summary>Requests replayed after m3ter refused their token with 401/403.</summary>
    public static readonly Counter<long> Replays = Meter.CreateCounter<long>(
        "m3ter.auth.replays", unit: "{request}", description: "Requests replayed once with a fresh token after a 401 or 403.");

    /// <summary>Reads of the shared token cache that found a token worth adopting.</summary>
    public static readonly Counter<long> SharedCacheHits = Meter.CreateCounter<long>(
        "m3ter.auth.shared_cache.hits", unit: "{read}", description: "Reads of the shared token cache that found a token to adopt.");

    /// <summary>Reads of the shared token cache that found nothing usable (or could not read).</summary>
    public static readonly Counter<long> SharedCacheMisses = Meter.CreateCounter<long>(
        "m3ter.auth.shared_cache.misses", unit: "{read}", description: "Reads of the shared token cache that found no token to adopt.");

    /// <summary>Times a process found another holding the lease and waited for its token.</summary>
    public static readonly Counter<long> SharedCacheLeaseWaits = Meter.CreateCounter<long>(
        "m3ter.auth.shared_cache.lease_waits", unit: "{wait}", description: "Waits for the token another process was requesting under the shared cache's lease.");

    public static void RecordTokenRequest(string outcome, string serverAddress) =>
        TokenRequests.Add(1, new KeyValuePair<string, object?>("outcome", outcome), new KeyValuePair<string, object?>("server.address", serverAddress));
}
