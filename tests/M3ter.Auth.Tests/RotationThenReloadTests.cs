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

[Collection(EnvironmentCollection.Name)]
/// <summary>A rotation whose new credentials have not yet produced a token is not undone by a later, unrelated reload.</summary>
public sealed class RotationThenReloadTests
{
    private static string Basic(string key, string secret) => Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(key + ":" + secret));

    // Rotation: the new credentials' first request fails transiently, so the provider keeps serving the old
    // credentials' token and retries shortly. Any later reload that leaves the credentials alone (another setting, a
    // second source) compares the new options with the *new* credentials, decides "same credentials", and adopts the
    // old token with refreshNow: false: it is then served on its normal schedule (hours) and the new credentials are
    // never tried, contrary to "the old token is served only until the new credentials have produced a token".
    [Theory]
    [InlineData(false)] // control: passes
    [InlineData(true)]
    public async Task Reload_AfterARotationWhoseFirstRequestFailed_StillMovesToTheNewCredentials(bool unrelatedReload)
    {
        var basics = new List<string>();
        int newCredentialRequests = 0;
        int issued = 0;
        var endpoint = new MockHttpMessageHandler();
        endpoint.When(HttpMethod.Post, "https://api.m3ter.com/oauth/token").Respond(request =>
        {
            string basic = request.Headers.Authorization!.Parameter!;
            lock (basics)
            {
                basics.Add(basic);
            }

            if (basic == Basic("new-key", "new-secret") && Interlocked.Increment(ref newCredentialRequests) == 1)
            {
                return new HttpResponseMessage(HttpStatusCode.ServiceUnavailable); // one blip
            }

            int n = Interlocked.Increment(ref issued);
            return new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent("{\"access_token\":\"t-" + n + "\",\"expires_in\":18000}") };
        });
        var settings = new Dictionary<string, string?> { ["M3ter:AccessKeyId"] = "old-key", ["M3ter:ApiSecret"] = "old-secret", ["M3ter:MaxRetryAttempts"] = "0" };
        var source = new ReloadableConfigurationSource(settings);
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddHttpClient(TokenClient.HttpClientName).ConfigurePrimaryHttpMessageHandler(() => endpoint);
        using ServiceProvider sp = services.AddSingleton<IConfiguration>(new ConfigurationBuilder().Add(source).Build()).AddM3terAuth().BuildServiceProvider();
        var provider = sp.GetRequiredService<ITokenProvider>();
        var registration = sp.GetRequiredKeyedService<M3terAuthRegistration>(Options.DefaultName);
        M3terToken old = await provider.GetTokenAsync();

        // Rotation; the new pair's first request hits a 503, the old token stays in use with a retry ~1 s later.
        var rotated = new Dictionary<string, string?>(settings) { ["M3ter:AccessKeyId"] = "new-key", ["M3ter:ApiSecret"] = "new-secret" };
        source.Provider.Replace(rotated);
        await Eventually(() => Volatile.Read(ref newCredentialRequests) == 1 && !registration.Provider.Status().IsFetching);

        // An unrelated setting changes (or a second source reloads) before that retry.
        if (unrelatedReload)
        {
            source.Provider.Replace(new Dictionary<string, string?>(rotated) { ["M3ter:OrganizationId"] = "org-2" });
        }

        // Within a few seconds the new credentials must have produced the token in use.
        await Eventually(() => !ReferenceEquals(registration.Provider.Status().CachedToken, old), () => $"still serving the old credentials' token; token requests: {string.Join(", ", basics)}");
        Assert.NotSame(old, await provider.GetTokenAsync());
    }

    private static async Task Eventually(Func<bool> condition, Func<string>? describe = null)
    {
        for (int i = 0; i < 500 && !condition(); i++)
        {
            await Task.Delay(10);
        }

        Assert.True(condition(), describe?.Invoke() ?? "condition not reached within 5 s");
    }
}
