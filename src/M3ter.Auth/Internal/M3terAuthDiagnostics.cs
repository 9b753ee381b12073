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

    public static void RecordTokenRequest(string outcome, string serverAddress) =>
        TokenRequests.Add(1, new KeyValuePair<string, object?>("outcome", outcome), new KeyValuePair<string, object?>("server.address", serverAddress));
}
