using System;
using System.Collections.Generic;
using System.Net;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth.Internal;
using M3ter.Auth.TestSupport;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using RichardSzalay.MockHttp;

namespace M3ter.Auth.Tests;

/// <summary>
/// A request sent before a reload and refused after it. A reload that keeps the credentials hands the very same token
/// to the new provider, so the handler must tell both the provider that issued it and the one the replay asks, or the
/// replay would get the refused token back and give up.
/// </summary>
[Collection(EnvironmentCollection.Name)]
public sealed class ReloadDuringARequestTests
{
    [Fact]
    public async Task RefusalOfARequestInFlightAcrossAReload_ThatKeepsTheCredentials_IsReplayedWithAFreshToken()
    {
        int issued = 0;
        var endpoint = new MockHttpMessageHandler();
        endpoint.When(HttpMethod.Post, "https://api.m3ter.com/oauth/token").Respond(_ =>
        {
            int n = Interlocked.Increment(ref issued);
            return new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent("{\"access_token\":\"t-" + n + "\",\"expires_in\":18000}") };
        });
        var settings = new Dictionary<string, string?> { ["M3ter:AccessKeyId"] = "key", ["M3ter:ApiSecret"] = "secret", ["M3ter:OrganizationId"] = "org-1" };
        var source = new ReloadableConfigurationSource(settings);

        int apiCalls = 0;
        var api = new DelegatingStub((request, auth) =>
        {
            if (Interlocked.Increment(ref apiCalls) == 1)
            {
                // While this request is at m3ter, configuration reloads (same credentials, another setting)...
                source.Provider.Replace(new Dictionary<string, string?>(settings) { ["M3ter:OrganizationId"] = "org-2" });
            }

            // ...and m3ter refuses the token it carries (expired early / revoked).
            return auth == "Bearer t-1" ? HttpStatusCode.Forbidden : HttpStatusCode.OK;
        });

        var services = new ServiceCollection();
        services.AddLogging();
        services.AddHttpClient(TokenClient.HttpClientName).ConfigurePrimaryHttpMessageHandler(() => endpoint);
        services.AddHttpClient("api").ConfigurePrimaryHttpMessageHandler(() => api).AddM3terAuthHandler();
        using ServiceProvider sp = services.AddSingleton<IConfiguration>(new ConfigurationBuilder().Add(source).Build()).AddM3terAuth().BuildServiceProvider();
        HttpClient client = sp.GetRequiredService<IHttpClientFactory>().CreateClient("api");

        using HttpResponseMessage response = await client.GetAsync(new Uri("https://api.m3ter.com/organizations/org-1/products"));

        var registration = sp.GetRequiredKeyedService<M3terAuthRegistration>(Options.DefaultName);
        Assert.True(
            response.StatusCode == HttpStatusCode.OK,
            $"got {(int)response.StatusCode} after {apiCalls} API call(s); the current provider still serves {registration.Provider.Status().CachedToken?.AccessToken}; tokens issued: {issued}");
    }

    private sealed class DelegatingStub(Func<HttpRequestMessage, string?, HttpStatusCode> decide) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(new HttpResponseMessage(decide(request, request.Headers.Authorization?.ToString())) { RequestMessage = request });
    }
}
