using System;
using System.Collections.Concurrent;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using Polly;

namespace M3ter.Auth.IntegrationTests;

/// <summary>Real pipelines around the handler: the token goes to m3ter's host and nowhere else.</summary>
public sealed class TokenStaysHomeTests
{
    private static readonly TimeSpan NoHang = TimeSpan.FromSeconds(60);

    /// <summary>A token endpoint on localhost that issues numbered tokens; other paths answer with <paramref name="api"/>.</summary>
    private static Task<LoopbackServer> StartM3ter(Func<HttpContext, Task> api, Func<int> nextToken) =>
        LoopbackServer.StartAsync(async context =>
        {
            if (context.Request.Path == "/oauth/token")
            {
                context.Response.ContentType = "application/json";
                await context.Response.WriteAsync("{\"access_token\":\"token-" + nextToken() + "\",\"token_type\":\"Bearer\",\"expires_in\":3600}");
                return;
            }

            await api(context);
        });

    private static void AddM3ter(IServiceCollection services, int port)
    {
        services.AddM3terAuth(o =>
        {
            o.BaseAddress = new Uri($"http://localhost:{port}/"); // the scope is localhost; anything on 127.0.0.1 is another host
            o.AccessKeyId = "home-key";
            o.ApiSecret = "home-secret-0123456789";
        });
    }

    [Fact]
    public async Task StandardResilienceHandler_RetryMovesTheRequestToAFallbackHost_TheFallbackGetsNoToken()
    {
        var fallbackSaw = new ConcurrentQueue<string>();
        await using LoopbackServer fallback = await LoopbackServer.StartAsync(context =>
        {
            fallbackSaw.Enqueue($"Authorization='{context.Request.Headers.Authorization}'");
            return Task.CompletedTask;
        });
        int tokens = 0;
        var m3terSaw = new ConcurrentQueue<string>();
        await using LoopbackServer m3ter = await StartM3ter(
            context =>
            {
                m3terSaw.Enqueue($"Authorization='{context.Request.Headers.Authorization}'");
                context.Response.StatusCode = 503;
                return Task.CompletedTask;
            },
            () => Interlocked.Increment(ref tokens));
        var services = new ServiceCollection();
        AddM3ter(services, m3ter.Port);
        var fallbackUri = new Uri($"http://127.0.0.1:{fallback.Port}/organizations/org-1/products");
        IHttpClientBuilder client = services.AddHttpClient("m3ter", c => c.BaseAddress = new Uri($"http://localhost:{m3ter.Port}/"));
        client.AddStandardResilienceHandler(o =>
        {
            o.Retry.MaxRetryAttempts = 1;
            o.Retry.Delay = TimeSpan.Zero;
            o.Retry.OnRetry = args =>
            {
                args.Context.GetRequestMessage()!.RequestUri = fallbackUri; // the first host is down: try the other
                return default;
            };
        });
        client.AddM3terAuthHandler();
        await using ServiceProvider sp = services.BuildServiceProvider();

        using HttpResponseMessage response = await sp.GetRequiredService<IHttpClientFactory>().CreateClient("m3ter")
            .GetAsync(new Uri("organizations/org-1/products", UriKind.Relative)).WaitAsync(NoHang);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Authorization='Bearer token-1'", Assert.Single(m3terSaw));
        Assert.Equal("Authorization=''", Assert.Single(fallbackSaw));
        Assert.Null(response.RequestMessage!.Headers.Authorization);
    }

    [Theory]
    [InlineData(false, "http://LOCALHOST:{0}/organizations/org-1/products")]
    [InlineData(false, "http://localhost:{0}/organizations/org-1/products#moved")]
    [InlineData(true, "http://LOCALHOST:{0}/organizations/org-1/products")]
    public async Task RedirectToAnAddressUriEqualsCallsEqual_IsARedirect_TheTokenIsKept(bool synchronous, string location)
    {
        // The primary handler follows the redirect and drops the token; the target's 403 is about the missing token,
        // not ours: our token must not be invalidated and refetched, nor put on the rewritten request.
        int tokens = 0;
        var saw = new ConcurrentQueue<string>();
        LoopbackServer? m3ter = null;
        await using LoopbackServer server = m3ter = await StartM3ter(
            context =>
            {
                saw.Enqueue($"{context.Request.Path} Authorization='{context.Request.Headers.Authorization}'");
                if (saw.Count == 1)
                {
                    context.Response.StatusCode = 307;
                    context.Response.Headers.Location = string.Format(System.Globalization.CultureInfo.InvariantCulture, location, m3ter!.Port);
                }
                else
                {
                    context.Response.StatusCode = 403;
                }

                return Task.CompletedTask;
            },
            () => Interlocked.Increment(ref tokens));
        var services = new ServiceCollection();
        AddM3ter(services, server.Port);
        services.AddHttpClient("m3ter", c => c.BaseAddress = new Uri($"http://localhost:{server.Port}/")).AddM3terAuthHandler();
        await using ServiceProvider sp = services.BuildServiceProvider();
        HttpClient client = sp.GetRequiredService<IHttpClientFactory>().CreateClient("m3ter");

        using var request = new HttpRequestMessage(HttpMethod.Get, "organizations/org-1/products");
        using HttpResponseMessage response = synchronous
            ? await Task.Run(() => client.Send(request)).WaitAsync(NoHang)
            : await client.SendAsync(request).WaitAsync(NoHang);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal(
            new[] { "/organizations/org-1/products Authorization='Bearer token-1'", "/organizations/org-1/products Authorization=''" },
            saw.ToArray());
        Assert.Equal(1, tokens);
    }
}
