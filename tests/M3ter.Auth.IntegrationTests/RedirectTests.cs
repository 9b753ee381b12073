using System;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Http;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth.TestSupport;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace M3ter.Auth.IntegrationTests;

/// <summary>
/// The primary handler follows redirects below the auth handler, rewriting the request (a 303 turns a POST into a GET
/// without a body) and dropping its Authorization header. A refusal from the redirect target must never make the auth
/// handler put a fresh token on the rewritten request.
/// </summary>
public sealed class RedirectTests
{
    [Theory]
    [InlineData(false, 303)]
    [InlineData(false, 307)]
    [InlineData(true, 303)]
    [InlineData(true, 307)]
    public async Task RefusalFromARedirectTarget_IsReturnedAsIs_AndTheTargetNeverSeesABearerToken(bool synchronous, int redirect)
    {
        var targetSaw = new ConcurrentQueue<string>();
        await using LoopbackServer target = await LoopbackServer.StartAsync(async context =>
        {
            targetSaw.Enqueue($"{context.Request.Method} {context.Request.Path} Authorization='{context.Request.Headers.Authorization}'");
            context.Response.StatusCode = 403;
            await context.Response.WriteAsync("{\"message\":\"not yours\"}");
        });
        int tokenRequests = 0;
        var m3terSaw = new ConcurrentQueue<string>();
        await using LoopbackServer m3ter = await LoopbackServer.StartAsync(async context =>
        {
            if (context.Request.Path == "/oauth/token")
            {
                int n = Interlocked.Increment(ref tokenRequests);
                context.Response.ContentType = "application/json";
                await context.Response.WriteAsync("{\"access_token\":\"token-" + n + "\",\"token_type\":\"Bearer\",\"expires_in\":3600}");
                return;
            }

            m3terSaw.Enqueue($"{context.Request.Method} {context.Request.Path} Authorization='{context.Request.Headers.Authorization}'");
            context.Response.StatusCode = redirect;
            context.Response.Headers.Location = $"http://127.0.0.1:{target.Port}/download/report.csv";
        });
        var logs = new CapturingLoggerProvider();
        var services = new ServiceCollection();
        services.AddLogging(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(logs));
        services.AddM3terAuth(o =>
        {
            o.BaseAddress = new Uri($"http://localhost:{m3ter.Port}/"); // the scope is localhost; the target is 127.0.0.1
            o.AccessKeyId = "redirect-key";
            o.ApiSecret = "redirect-secret-0123456789";
        });
        services.AddHttpClient("m3ter", c => c.BaseAddress = new Uri($"http://localhost:{m3ter.Port}/")).AddM3terAuthHandler();
        await using ServiceProvider sp = services.BuildServiceProvider();
        HttpClient client = sp.GetRequiredService<IHttpClientFactory>().CreateClient("m3ter");

        using var request = new HttpRequestMessage(HttpMethod.Post, "organizations/org-1/reports")
        {
            Content = new StringContent("{\"report\":\"usage\"}", Encoding.UTF8, "application/json"),
        };
        using HttpResponseMessage response = synchronous
            ? await Task.Run(() => client.Send(request))
            : await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("{\"message\":\"not yours\"}", await response.Content.ReadAsStringAsync());
        Assert.Equal($"POST /organizations/org-1/reports Authorization='Bearer token-1'", Assert.Single(m3terSaw));
        string expectedMethod = redirect == 303 ? "GET" : "POST";
        Assert.Equal($"{expectedMethod} /download/report.csv Authorization=''", Assert.Single(targetSaw));
        Assert.Equal(1, tokenRequests); // the refusal was not about our token: no new one, no replay
        string all = logs.AllText;
        Assert.NotEmpty(all);
        Assert.DoesNotContain("token-1", all, StringComparison.Ordinal);
        Assert.DoesNotContain("redirect-secret-0123456789", all, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToBase64String(Encoding.UTF8.GetBytes("redirect-key:redirect-secret-0123456789")), all, StringComparison.Ordinal);
    }
}
