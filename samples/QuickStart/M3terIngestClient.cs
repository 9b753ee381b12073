using System;
using System.Globalization;
using System.Net.Http;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth;
using Microsoft.Extensions.Options;

namespace QuickStart;

/// <summary>A typed client for m3ter's ingest API (<c>ingest.m3ter.com</c>); the same token serves it.</summary>
public sealed class M3terIngestClient(HttpClient http, IOptionsMonitor<M3terAuthOptions> options)
{
    private readonly string _organizationId = options.CurrentValue.OrganizationId
        ?? throw new InvalidOperationException("Set M3TER_ORG_ID (or M3ter:OrganizationId) to submit measurements.");

    public Task<HttpResponseMessage> SubmitAsync(string meter, string account, double value, CancellationToken cancellationToken = default)
    {
        // The uid makes ingest idempotent: a replayed request cannot count twice.
        string json = string.Create(CultureInfo.InvariantCulture,
            $"{{\"measurements\":[{{\"uid\":\"{Guid.NewGuid()}\",\"meter\":\"{meter}\",\"account\":\"{account}\",\"ts\":\"{DateTimeOffset.UtcNow:yyyy-MM-ddTHH:mm:ss.fffZ}\",\"measure\":{{\"requests\":{value}}}}}]}}");
        return http.PostAsync(
            new Uri($"organizations/{_organizationId}/measurements", UriKind.Relative),
            new StringContent(json, Encoding.UTF8, "application/json"),
            cancellationToken);
    }
}
