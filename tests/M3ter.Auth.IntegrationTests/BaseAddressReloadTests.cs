using System;
using System.Collections.Generic;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Threading.Tasks;
using M3ter.Auth.Testing;
using M3ter.Auth.TestSupport;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace M3ter.Auth.IntegrationTests;

/// <summary>
/// A reload that moves the registration to another host: clients registered as the README shows call the new host
/// with its token. With <c>IOptions&lt;M3terAuthOptions&gt;.Value</c>, which never reloads, they kept calling the old
/// host, now out of scope, without a token, until a restart.
/// </summary>
public sealed class BaseAddressReloadTests
{
    private static readonly TimeSpan NoHang = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task ConfigurationReload_ToAnotherHost_ClientsRegisteredAsTheReadmeShowsFollowIt()
    {
        await using M3terEmulator before = await M3terEmulator.StartAsync();
        await using M3terEmulator after = await M3terEmulator.StartAsync();
        var source = new ReloadableConfigurationSource(before.ConfigurationValues.ToDictionary(p => p.Key, p => p.Value));
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().Add(source).Build());
        services.AddM3terAuth();

        #region snippet:base-address-reload
        services.AddHttpClient("m3ter", (sp, http) =>
            http.BaseAddress = sp.GetRequiredService<IOptionsMonitor<M3terAuthOptions>>().CurrentValue.BaseAddress) // not IOptions<>.Value: it never reloads
            .AddM3terAuthHandler();
        #endregion

        await using ServiceProvider sp = services.BuildServiceProvider();
        var factory = sp.GetRequiredService<IHttpClientFactory>();
        using (HttpResponseMessage first = await factory.CreateClient("m3ter").GetAsync(new Uri($"organizations/{before.OrganizationId}/products", UriKind.Relative)).WaitAsync(NoHang))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        }

        source.Provider.Replace(after.ConfigurationValues.ToDictionary(p => p.Key, p => p.Value));
        using HttpResponseMessage moved = await factory.CreateClient("m3ter").GetAsync(new Uri($"organizations/{after.OrganizationId}/products", UriKind.Relative)).WaitAsync(NoHang);

        Assert.Equal(HttpStatusCode.OK, moved.StatusCode);
        Assert.Equal(1, after.ApiRequestCount);
        Assert.Equal(0, after.ApiRequestsWithoutTokenCount);
        Assert.Equal(1, before.ApiRequestCount);
        Assert.Equal(1, after.TokenRequestCount); // a token from one server is never sent to another
    }
}
