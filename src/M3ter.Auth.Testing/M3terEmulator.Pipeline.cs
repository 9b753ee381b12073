using System;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Net;
using System.Text.RegularExpressions;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth.Testing.Internal;
using Microsoft.AspNetCore.Http;

namespace M3ter.Auth.Testing;

// The request pipeline: every request is recorded, rate-limited, faulted if asked, and routed to the endpoint it is for.
public sealed partial class M3terEmulator
{
    private static async Task<(byte[] Body, bool TooLarge)> ReadBodyAsync(HttpRequest request, int limit, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        byte[] chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
        {
            int room = limit - (int)buffer.Length;
            buffer.Write(chunk, 0, Math.Min(read, room));
            if (read > room)
            {
                return (buffer.ToArray(), true);
            }
        }

        return (buffer.ToArray(), false);
    }

    private static async Task WriteAsync(HttpContext context, M3terRecordedRequest record, int status, byte[]? body, string contentType = "application/json")
    {
        // Recorded before the first byte goes out: a client can have the whole response before this write returns, and a
        // test that reads Requests as soon as it has the response must find the status there.
        record.Answered(status);
        context.Response.StatusCode = status;
        if (body is not null)
        {
            context.Response.ContentType = contentType;
            context.Response.ContentLength = body.Length;
            await context.Response.Body.WriteAsync(body, context.RequestAborted).ConfigureAwait(false);
        }
    }

    private static Task MessageAsync(HttpContext context, M3terRecordedRequest record, int status, string message) =>
        WriteAsync(context, record, status, EmulatorJson.Message(message));

    private async Task HandleAsync(HttpContext context)
    {
        HttpRequest request = context.Request;
        bool ingestHost = context.Connection.LocalPort != _apiPort;
        string path = request.Path.Value ?? "/";
        bool isOrganizationPath = path.StartsWith("/organizations/", StringComparison.Ordinal);
        bool isMeasurements = MeasurementsPath().IsMatch(path); // exactly /organizations/{orgId}/measurements

        // M3TER.md, "Using a token": the config API lives on api.m3ter.com, the ingest API on ingest.m3ter.com. Each
        // host refuses the other's calls, so a client that sends measurements to the API host fails here as in production.
        M3terRequestKind kind = ingestHost
            ? isMeasurements ? M3terRequestKind.Ingest : M3terRequestKind.Other
            : path == "/oauth/token" ? M3terRequestKind.Token
            : isOrganizationPath && !isMeasurements ? M3terRequestKind.Config
            : M3terRequestKind.Other;

        using var aborted = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, _stopping.Token);
        (byte[] body, bool tooLarge) = await ReadBodyAsync(request, (kind == M3terRequestKind.Ingest ? MaxIngestPayloadBytes : MaxConfigBodyBytes) + 1, aborted.Token).ConfigureAwait(false);
        var headers = request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);
        var record = new M3terRecordedRequest(kind, ingestHost ? "ingest" : "api", request.Method, path + request.QueryString.Value, headers, body, _options.TimeProvider.GetUtcNow());
        if (_options.RecordRequests)
        {
            _requests.Add(record);
        }

        try
        {
            await AnswerAsync(context, record, kind, path, tooLarge, aborted.Token).ConfigureAwait(false);
        }
        finally
        {
            if (record.StatusCode is null)
            {
                record.Answered(context.Response.HasStarted ? context.Response.StatusCode : 0);
            }

            Interlocked.Exchange(ref _requestArrived, new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult(true);
        }
    }

    private async Task AnswerAsync(HttpContext context, M3terRecordedRequest record, M3terRequestKind kind, string path, bool tooLarge, CancellationToken aborted)
    {
        if (kind == M3terRequestKind.Other)
        {
            string hint = record.Host == "ingest"
                ? "the ingest host serves POST /organizations/{orgId}/measurements only; config calls and tokens go to the API host"
                : path.EndsWith("/measurements", StringComparison.Ordinal) ? "measurements go to the ingest host (ingest.m3ter.com), not the API host" : "no such endpoint";
            await MessageAsync(context, record, 404, "Not found: " + hint).ConfigureAwait(false);
            return;
        }

        // Counted before anything can refuse them (the rate limit, a fault), so the counters see every request.
        if (kind == M3terRequestKind.Token)
        {
            Interlocked.Increment(ref _tokenRequests);
        }
        else
        {
            Interlocked.Increment(ref _apiRequests);
            if (record.BearerToken is null)
            {
                Interlocked.Increment(ref _apiRequestsWithoutToken);
            }
        }

        // M3TER.md, "Limits": 50 requests/s per organization on each API, 429 when exceeded; token requests count too.
        if (_options.RateLimitPerSecond is int limit
            && !(kind == M3terRequestKind.Ingest ? _ingestRate : _apiRate).TryAcquire(_options.TimeProvider.GetUtcNow(), limit, out TimeSpan retryAfter))
        {
            context.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
            await MessageAsync(context, record, 429, "Too Many Requests: the organization's rate limit is " + limit.ToString(CultureInfo.InvariantCulture) + " requests per second").ConfigureAwait(false);
            return;
        }

        if (kind == M3terRequestKind.Token)
        {
            await TokenAsync(context, record, aborted).ConfigureAwait(false);
            return;
        }

        if ((kind == M3terRequestKind.Ingest ? _ingestFaults : _configFaults).TryDequeue(out M3terFault? fault)
            && await ApplyFaultAsync(context, record, fault, aborted).ConfigureAwait(false))
        {
            return;
        }

        if (!Authorized(record, out string? problem, out string organizationId))
        {
            Interlocked.Increment(ref _apiRequestsRefused);

            if (InvalidTokenStatusCode == HttpStatusCode.Unauthorized)
            {
                context.Response.Headers.WWWAuthenticate = "Bearer error=\"invalid_token\"";
            }

            string reason = InvalidTokenStatusCode == HttpStatusCode.Unauthorized ? "Unauthorized" : "Forbidden";
            await MessageAsync(context, record, (int)InvalidTokenStatusCode, reason + ": " + problem).ConfigureAwait(false);
            return;
        }

        // A token is good for its own organization only.
        string orgPrefix = "/organizations/" + organizationId;
        if (!path.StartsWith(orgPrefix, StringComparison.Ordinal) || (path.Length > orgPrefix.Length && path[orgPrefix.Length] != '/'))
        {
            await MessageAsync(context, record, 403, "Forbidden: the organization does not exist or the service user has no access to it").ConfigureAwait(false);
            return;
        }

        string rest = path[orgPrefix.Length..];
        if (_deniedPaths.Keys.Any(denied => rest == denied || rest.StartsWith(denied + "/", StringComparison.Ordinal)))
        {
            await MessageAsync(context, record, 403, "Forbidden: the service user lacks the permission for this resource").ConfigureAwait(false);
            return;
        }

        if (kind == M3terRequestKind.Ingest)
        {
            await IngestAsync(context, record, tooLarge).ConfigureAwait(false);
            return;
        }

        await ConfigAsync(context, record, rest, organizationId, tooLarge).ConfigureAwait(false);
    }

    /// <summary>The ingest API's one path, <c>/organizations/{orgId}/measurements</c>, with nothing before or after it.</summary>
    [GeneratedRegex(@"^/organizations/[^/]+/measurements\z", RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex MeasurementsPath();
}
