using System;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth;
using Microsoft.Extensions.Options;

namespace QuickStart;

/// <summary>A typed client for m3ter's config API. It knows nothing about tokens: the handler adds them.</summary>
public sealed class M3terConfigClient(HttpClient http, IOptionsMonitor<M3terAuthOptions> options)
{
    private readonly string _organizationId = options.CurrentValue.OrganizationId
        ?? throw new InvalidOperationException("Set M3TER_ORG_ID (or M3ter:OrganizationId) to call the config API.");

    public Task<HttpResponseMessage> GetOrganizationAsync(CancellationToken cancellationToken = default) =>
        http.GetAsync(new Uri($"organizations/{_organizationId}", UriKind.Relative), cancellationToken);

    public Task<HttpResponseMessage> ListProductsAsync(CancellationToken cancellationToken = default) =>
        http.GetAsync(new Uri($"organizations/{_organizationId}/products?pageSize=1", UriKind.Relative), cancellationToken);
}
