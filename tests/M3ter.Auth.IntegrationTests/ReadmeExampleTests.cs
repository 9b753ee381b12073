using System;
using System.Net;
using System.Net.Http;
using System.Threading.Tasks;
using M3ter.Auth.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace M3ter.Auth.IntegrationTests;

/// <summary>The README's examples, run for real. ReadmeSnippetTests checks the README shows exactly this code.</summary>
public sealed class ReadmeExampleTests
{
    [Fact]
    public async Task WithoutDependencyInjection_OneHandlerChainServesEveryRequest()
    {
        await using M3terEmulator emulator = await M3terEmulator.StartAsync();
        var options = new M3terAuthOptions();
        emulator.Configure(options);
        string orgId = emulator.OrganizationId;

        #region snippet:without-di
        // options: AccessKeyId, ApiSecret (and OrganizationId, BaseAddress) set from your own configuration.
        var tokenClient = new TokenClient(new HttpClient(), options);
        var tokenProvider = new TokenProvider(tokenClient, options);
        var http = new HttpClient(new M3terAuthHandler(tokenProvider, options) { InnerHandler = new SocketsHttpHandler() })
        {
            BaseAddress = options.BaseAddress,
        };

        HttpResponseMessage response = await http.GetAsync(new Uri($"organizations/{orgId}/products", UriKind.Relative));
        #endregion

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await http.GetAsync(new Uri($"organizations/{orgId}", UriKind.Relative));
        Assert.Equal(1, emulator.TokenRequestCount);
        tokenProvider.Dispose();
        http.Dispose();
    }

    [Fact]
    public async Task EmulatorInThreeLines_ServesYourOwnIntegrationTests()
    {
        #region snippet:emulator-test
        await using var m3ter = await M3terEmulator.StartAsync();
        var services = new ServiceCollection().AddM3terAuth(m3ter.Configure);
        services.AddHttpClient("billing", c => c.BaseAddress = m3ter.BaseAddress).AddM3terAuthHandler();
        #endregion

        await using ServiceProvider provider = services.BuildServiceProvider();
        HttpClient client = provider.GetRequiredService<IHttpClientFactory>().CreateClient("billing");
        using HttpResponseMessage response = await client.GetAsync(new Uri($"organizations/{m3ter.OrganizationId}/meters", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Single(m3ter.Requests, r => r.Kind == M3terRequestKind.Config && r.BearerToken is not null);
    }
}

public sealed class ReadmePitchTests
{
    [Fact]
    public async Task Pitch_EnvironmentVariablesAndATypedClient_IsAllItTakes()
    {
        await using M3terEmulator emulator = await M3terEmulator.StartAsync();
        var services = new ServiceCollection();
        services.Configure<M3terAuthOptions>(emulator.Configure); // stands in for the M3TER_* environment variables

        #region snippet:pitch
        services.AddM3terAuth(); // M3TER_API_KEY, M3TER_API_SECRET, M3TER_ORG_ID
        services.AddHttpClient<BillingClient>(c => c.BaseAddress = new Uri("https://api.m3ter.com/"))
            .AddM3terAuthHandler(); // every request to m3ter now carries a valid token
        #endregion

        services.AddHttpClient<BillingClient>(c => c.BaseAddress = emulator.BaseAddress);
        await using ServiceProvider provider = services.BuildServiceProvider();
        var billing = provider.GetRequiredService<BillingClient>();

        using HttpResponseMessage response = await billing.Http.GetAsync(new Uri($"organizations/{emulator.OrganizationId}", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1, emulator.TokenRequestCount);
    }

    public sealed class BillingClient(HttpClient http)
    {
        public HttpClient Http { get; } = http;
    }
}
