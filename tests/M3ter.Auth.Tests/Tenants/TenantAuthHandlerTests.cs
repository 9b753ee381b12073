using System;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.DependencyInjection;

namespace M3ter.Auth.Tests.Tenants;

/// <summary>The handler of <c>AddM3terTenantAuthHandler()</c>: each request carries its own tenant's token, to that tenant's hosts only.</summary>
public sealed class TenantAuthHandlerTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task EachRequest_CarriesItsOwnTenantsToken(bool async)
    {
        using var host = new TenantHost(tenants: 3);
        for (int round = 0; round < 3; round++)
        {
            foreach (string tenant in new[] { "t0", "t1", "t2" })
            {
                using HttpResponseMessage response = await Send(host, Request(tenant), async);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }
        }

        Assert.Equal(0, host.M3ter.CrossedCalls);
        Assert.Equal(0, host.M3ter.CallsWithoutToken);
        Assert.Equal(3, host.M3ter.TokenRequests);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ARequestWithoutATenant_IsNotSent(bool async)
    {
        using var host = new TenantHost(tenants: 1);

        var ex = await Assert.ThrowsAsync<M3terAuthException>(() => Send(host, new HttpRequestMessage(HttpMethod.Get, new Uri(FakeOrganizations.Api, "organizations/t0/products")), async));

        Assert.Contains("WithM3terTenant", ex.Message, StringComparison.Ordinal);
        Assert.Equal(0, host.M3ter.ApiCalls);
        Assert.Equal(0, host.M3ter.TokenRequests);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ARequestForAnotherHost_GetsNoToken_AndCausesNoTokenRequest(bool async)
    {
        using var host = new TenantHost(tenants: 1);
        var request = new HttpRequestMessage(HttpMethod.Get, "https://elsewhere.example.com/organizations/t0/products").WithM3terTenant("t0");

        using HttpResponseMessage response = await Send(host, request, async);

        Assert.Null(request.Headers.Authorization);
        Assert.Equal(1, host.M3ter.CallsWithoutToken);
        Assert.Equal(0, host.M3ter.TokenRequests);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task AnUnknownTenant_IsNotSent(bool async)
    {
        using var host = new TenantHost();

        var ex = await Assert.ThrowsAsync<M3terAuthException>(() => Send(host, Request("ghost"), async));

        Assert.Contains("'ghost'", ex.Message, StringComparison.Ordinal);
        Assert.Equal(0, host.M3ter.ApiCalls);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ARevokedTenantToken_IsReplacedOnce_ForThatTenant_AndNotLeftOnTheRequest(bool async)
    {
        using var host = new TenantHost(tenants: 2);
        M3terToken old = await host.Tokens.GetTokenAsync("t0");
        M3terToken other = await host.Tokens.GetTokenAsync("t1");
        host.M3ter.Revoke(old.AccessToken);
        HttpRequestMessage request = Request("t0");

        using HttpResponseMessage response = await Send(host, request, async);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Null(request.Headers.Authorization);
        Assert.NotEqual(old.AccessToken, (await host.Tokens.GetTokenAsync("t0")).AccessToken);
        Assert.Same(other, await host.Tokens.GetTokenAsync("t1"));
        Assert.Equal(3, host.M3ter.TokenRequests);
    }

    [Fact]
    public async Task TheIngestHostOfTheTenant_GetsItsToken()
    {
        using var host = new TenantHost(tenants: 1);
        using HttpResponseMessage response = await host.CallAsync("t0", host: FakeOrganizations.Ingest);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(0, host.M3ter.CallsWithoutToken);
    }

    [Fact]
    public async Task ATenantsToken_GoesToItsOwnHostsOnly_NotToAnotherTenantsHosts()
    {
        using var host = new TenantHost();
        var eu = new Uri("https://api.eu.m3ter.com/");
        host.M3ter.AddKey("key-eu", "secret-eu", "eu");
        host.Services.GetRequiredService<FakeStore>().SetWithBaseAddress("eu", "key-eu", "secret-eu", eu);
        host.Add("us");

        using HttpResponseMessage euAtHome = await host.Client.SendAsync(new HttpRequestMessage(HttpMethod.Get, new Uri(eu, "organizations/eu/products")).WithM3terTenant("eu"));
        var usAtEu = new HttpRequestMessage(HttpMethod.Get, new Uri(eu, "organizations/us/products")).WithM3terTenant("us");
        using HttpResponseMessage refused = await host.Client.SendAsync(usAtEu);
        var euAtUs = new HttpRequestMessage(HttpMethod.Get, new Uri(FakeOrganizations.Api, "organizations/eu/products")).WithM3terTenant("eu");
        using HttpResponseMessage refusedToo = await host.Client.SendAsync(euAtUs);

        Assert.Equal(HttpStatusCode.OK, euAtHome.StatusCode);
        Assert.Equal(2, host.M3ter.CallsWithoutToken);
        Assert.Equal(0, host.M3ter.CrossedCalls);
        Assert.Equal(1, host.M3ter.TokenRequests); // only eu's: the us request to eu's host caused none
    }

    [Fact]
    public void TheTenantOfARequest_ReadsBack()
    {
        var request = new HttpRequestMessage().WithM3terTenant("acme");

        Assert.Equal("acme", request.GetM3terTenant());
        Assert.Null(new HttpRequestMessage().GetM3terTenant());
        Assert.Throws<ArgumentException>(() => new HttpRequestMessage().WithM3terTenant(string.Empty));
        Assert.Throws<ArgumentNullException>(() => new HttpRequestMessage().WithM3terTenant(null!));
    }

    private static HttpRequestMessage Request(string tenant) =>
        new HttpRequestMessage(HttpMethod.Get, new Uri(FakeOrganizations.Api, $"organizations/{tenant}/products")).WithM3terTenant(tenant);

    private static Task<HttpResponseMessage> Send(TenantHost host, HttpRequestMessage request, bool async) =>
        async ? host.Client.SendAsync(request) : Task.Run(() => host.Client.Send(request));
}
