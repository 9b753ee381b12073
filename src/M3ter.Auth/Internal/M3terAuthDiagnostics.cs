using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace M3ter.Auth.Internal;

/// <summary>
/// The package's <see cref="Meter"/> and <see cref="ActivitySource"/>, both named <c>M3ter.Auth</c>: the counters and
/// histograms, which hold no state of their own. The one instrument that reads the state of objects a container owns,
/// the remaining-lifetime gauge, is that container's (<see cref="RemainingLifetimeGauge"/>).
/// </summary>
internal static class M3terAuthDiagnostics
{
    public const string Name = "M3ter.Auth";

    public static readonly ActivitySource ActivitySource = new(Name);

    public static readonly Meter Meter = new(Name);

    /// <summary>Token requests sent (each attempt, retries and timed-out ones included), tagged with the outcome and the token endpoint's host.</summary>
    public static readonly Counter<long> TokenRequests = Meter.CreateCounter<long>(
        "m3ter.auth.token.requests", unit: "{request}", description: "Requests sent to the m3ter token endpoint.");

    /// <summary>Requests replayed after m3ter refused their token with 401/403, tagged with the host.</summary>
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

    /// <summary>Times a process failed its callers with a refusal of its credentials another process of the fleet shared, without asking m3ter itself.</summary>
    public static readonly Counter<long> SharedCacheRejections = Meter.CreateCounter<long>(
        "m3ter.auth.shared_cache.rejections", unit: "{rejection}", description: "Refusals of the credentials read from the shared token cache instead of asked for.");

    /// <summary>How long getting a token took (every attempt and the waits between them), in seconds, tagged with the outcome.</summary>
    public static readonly Histogram<double> TokenRequestDuration = Meter.CreateHistogram<double>(
        "m3ter.auth.token.request.duration", unit: "s", description: "How long obtaining a token from the token endpoint took, retries included.");

    /// <summary>Tenants held by <c>AddM3terAuthTenants</c> (never tagged with the tenant: that would be unbounded cardinality).</summary>
    public static readonly UpDownCounter<long> TenantsHeld = Meter.CreateUpDownCounter<long>(
        "m3ter.auth.tenants.held", unit: "{tenant}", description: "Tenants whose credentials and token are held.");

    /// <summary>Lookups of tenants' credentials, tagged with the outcome (found, unknown, failed, invalid, rotated, unchanged).</summary>
    public static readonly Counter<long> TenantLookups = Meter.CreateCounter<long>(
        "m3ter.auth.tenants.lookups", unit: "{lookup}", description: "Lookups of a tenant's credentials in the credential source.");

    /// <summary>Tenants no longer held, tagged with the reason (capacity, idle, forgotten).</summary>
    public static readonly Counter<long> TenantEvictions = Meter.CreateCounter<long>(
        "m3ter.auth.tenants.evictions", unit: "{tenant}", description: "Tenants dropped from the held set.");

    public static void RecordTokenRequestDuration(long startedTimestamp, string? errorType, string serverAddress)
    {
        double seconds = (Stopwatch.GetTimestamp() - startedTimestamp) / (double)Stopwatch.Frequency;
        if (errorType is null)
        {
            TokenRequestDuration.Record(seconds, new KeyValuePair<string, object?>("outcome", "success"), new KeyValuePair<string, object?>("server.address", serverAddress));
        }
        else
        {
            TokenRequestDuration.Record(seconds, new KeyValuePair<string, object?>("outcome", "failure"), new KeyValuePair<string, object?>("error.type", errorType), new KeyValuePair<string, object?>("server.address", serverAddress));
        }
    }

    /// <summary>Counts a lookup of a tenant's credentials by its outcome (never by tenant).</summary>
    public static void RecordTenantLookup(string outcome) =>
        TenantLookups.Add(1, new KeyValuePair<string, object?>("outcome", outcome));

    public static void RecordTokenRequest(string outcome, string serverAddress) =>
        TokenRequests.Add(1, new KeyValuePair<string, object?>("outcome", outcome), new KeyValuePair<string, object?>("server.address", serverAddress));
}
