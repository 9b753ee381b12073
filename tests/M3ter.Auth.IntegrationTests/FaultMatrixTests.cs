using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Text;
using System.Threading.Tasks;
using M3ter.Auth.Testing;
using M3ter.Auth.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace M3ter.Auth.IntegrationTests;

/// <summary>
/// Every fault the token endpoint and the API can throw at the library, over real sockets. Each test asserts what the
/// caller saw (a correct response or an M3terAuthException with the server's status and error — never a hang, a
/// NullReferenceException or a JsonException), how many token requests the server saw, that no API request went out
/// without a token, and that nothing secret reached the logs (captured at Trace).
/// </summary>
public sealed class FaultMatrixTests : EmulatorTestBase
{
    private static readonly TimeSpan NoHang = TimeSpan.FromSeconds(30);

    protected override void ConfigureAuth(M3terAuthOptions options)
    {
        options.MaxRetryAttempts = 2;
        // Long enough that a busy machine (the suite runs tests in parallel) never times out a healthy attempt, which
        // would add a retry to tests that count requests; short enough to test timeouts in a few seconds.
        options.TokenRequestTimeout = TimeSpan.FromSeconds(2);
    }

    private async Task<HttpResponseMessage> Call() =>
        await Api.GetAsync(new Uri(OrgPath("/products"), UriKind.Relative)).WaitAsync(NoHang);

    private async Task<M3terAuthException> CallFails()
    {
        Exception? error = await Record.ExceptionAsync(Call);
        Assert.NotNull(error);
        return Assert.IsType<M3terAuthException>(error); // not NullReference, not Json, not a bare HttpRequestException
    }

    private void AssertNothingSentWithoutToken()
    {
        Assert.Equal(0, M3ter.ApiRequestsWithoutTokenCount);
        AssertLogsHoldNoSecrets();
    }

    public static TheoryData<string> DroppedConnections => new() { "reset", "reset-mid-response", "slower-than-timeout" };

    private static M3terFault DroppedConnection(string fault) => fault switch
    {
        "reset" => M3terFault.Reset(),
        "reset-mid-response" => M3terFault.ResetMidResponse(),
        _ => M3terFault.Slow(TimeSpan.FromSeconds(20)), // longer than the 2 s TokenRequestTimeout
    };

    [Theory]
    [MemberData(nameof(DroppedConnections))]
    public async Task TokenEndpoint_DropsOrStalls_EveryTime_CallerGetsM3terAuthExceptionAfterBoundedRetries(string fault)
    {
        M3ter.PersistentTokenFault = DroppedConnection(fault);

        M3terAuthException error = await CallFails();

        Assert.Null(error.StatusCode);
        Assert.Equal(3, TokenAttemptsSent); // one attempt and MaxRetryAttempts = 2 retries, no more
        Assert.InRange(M3ter.TokenRequestCount, 2, 3); // a cold server can miss an attempt abandoned before it got to it
        Assert.Equal(0, M3ter.ApiRequestCount);
        if (fault == "slower-than-timeout")
        {
            Assert.Contains("TokenRequestTimeout", error.Message, StringComparison.Ordinal);
        }

        AssertNothingSentWithoutToken();
    }

    [Theory]
    [MemberData(nameof(DroppedConnections))]
    public async Task TokenEndpoint_DropsOrStalls_Once_IsRetriedAndTheCallSucceeds(string fault)
    {
        M3ter.EnqueueTokenFault(DroppedConnection(fault));

        using HttpResponseMessage response = await Call();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, TokenAttemptsSent);
        Assert.InRange(M3ter.TokenRequestCount, 1, 2); // a cold server can miss an attempt abandoned before it got to it
        AssertNothingSentWithoutToken();
    }

    [Fact]
    public async Task TokenEndpoint_ConnectionRefused_CallerGetsM3terAuthExceptionQuickly()
    {
        int closedPort;
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            closedPort = ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        var services = new ServiceCollection();
        services.AddLogging(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(Logs));
        services.AddM3terAuth(o =>
        {
            M3ter.Configure(o);
            o.BaseAddress = new Uri($"http://127.0.0.1:{closedPort}/");
            o.RetryDelay = TimeSpan.FromMilliseconds(10);
            o.MaxRetryAttempts = 2;
        });
        services.AddHttpClient("refused", c => c.BaseAddress = new Uri($"http://127.0.0.1:{closedPort}/")).AddM3terAuthHandler();
        await using ServiceProvider sp = services.BuildServiceProvider();

        var stopwatch = Stopwatch.StartNew();
        Exception? error = await Record.ExceptionAsync(() => sp.GetRequiredService<IHttpClientFactory>().CreateClient("refused")
            .GetAsync(new Uri("organizations/o", UriKind.Relative)).WaitAsync(NoHang));

        var auth = Assert.IsType<M3terAuthException>(error);
        Assert.Null(auth.StatusCode);
        Assert.IsType<HttpRequestException>(auth.InnerException);
        Assert.Contains("could not be reached (3 attempt(s))", auth.Message, StringComparison.Ordinal);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(10), $"took {stopwatch.Elapsed}");
        AssertLogsHoldNoSecrets();
    }

    [Theory]
    [InlineData("seconds")]
    [InlineData("http-date")]
    public async Task TokenEndpoint_429WithRetryAfter_IsHonoured(string form)
    {
        M3ter.EnqueueTokenFault(form == "seconds"
            ? M3terFault.RetryAfterSeconds(HttpStatusCode.TooManyRequests, TimeSpan.FromSeconds(1))
            : M3terFault.RetryAfterDate(HttpStatusCode.TooManyRequests, DateTimeOffset.UtcNow.AddSeconds(2))); // whole seconds: 1-2 s away
        var stopwatch = Stopwatch.StartNew();

        using HttpResponseMessage response = await Call();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, M3ter.TokenRequestCount);
        Assert.True(stopwatch.Elapsed >= TimeSpan.FromMilliseconds(900), $"retried after {stopwatch.Elapsed}, before Retry-After");
        AssertNothingSentWithoutToken();
    }

    public static TheoryData<HttpStatusCode> ServerErrors => new()
    {
        HttpStatusCode.InternalServerError, HttpStatusCode.BadGateway, HttpStatusCode.ServiceUnavailable, HttpStatusCode.GatewayTimeout,
    };

    [Theory]
    [MemberData(nameof(ServerErrors))]
    public async Task TokenEndpoint_5xxBurstShorterThanRetries_CallSucceeds(HttpStatusCode status)
    {
        M3ter.EnqueueTokenFault(M3terFault.Status(status, "<html>bad gateway</html>", "text/html"));
        M3ter.EnqueueTokenFault(M3terFault.Status(status, "{\"message\":\"try later\"}"));

        using HttpResponseMessage response = await Call();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(3, M3ter.TokenRequestCount);
        AssertNothingSentWithoutToken();
    }

    [Theory]
    [MemberData(nameof(ServerErrors))]
    public async Task TokenEndpoint_5xxBurstLongerThanRetries_CallerGetsTheStatus_AndTheNextCallTriesAgain(HttpStatusCode status)
    {
        M3ter.PersistentTokenFault = M3terFault.Status(status, "{\"message\":\"down for maintenance\"}");

        M3terAuthException error = await CallFails();

        Assert.Equal(status, error.StatusCode);
        Assert.Equal("down for maintenance", error.ErrorDescription);
        Assert.Equal(3, M3ter.TokenRequestCount);

        M3ter.PersistentTokenFault = null;
        using HttpResponseMessage recovered = await Call();
        Assert.Equal(HttpStatusCode.OK, recovered.StatusCode);
        Assert.Equal(4, M3ter.TokenRequestCount);
        AssertNothingSentWithoutToken();
    }

    public static TheoryData<string, string, string> MalformedTokens => new()
    {
        { "<html><body>Sign in</body></html>", "text/html", "the body is not valid JSON: '<' at byte 0 (Content-Type text/html)" },
        { "{\"access_token\":\"abc\",\"token_type\":\"Bea", "application/json", "the body is not valid JSON (it ends too soon)" },
        { "{\"access_token\":\"abc\",\"expires_in\":0}", "application/json", "expires_in must be a positive number of seconds, but it is 0" },
        { "{\"access_token\":\"abc\",\"expires_in\":-3600}", "application/json", "expires_in must be a positive number of seconds, but it is -3600" },
        { "{\"access_token\":\"abc\",\"expires_in\":\"five hours\"}", "application/json", "expires_in is not a number of seconds" },
        { "{\"token_type\":\"Bearer\",\"expires_in\":18000}", "application/json", "no access_token" },
        { "{\"access_token\":\"abc\"}", "application/json", "no expires_in" },
    };

    [Theory]
    [MemberData(nameof(MalformedTokens))]
    public async Task TokenEndpoint_200WithoutAToken_FailsClosedWithoutRetrying(string body, string contentType, string problem)
    {
        M3ter.PersistentTokenFault = M3terFault.Ok(body, contentType);

        M3terAuthException error = await CallFails();

        Assert.Equal(HttpStatusCode.OK, error.StatusCode);
        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
        Assert.Equal(1, M3ter.TokenRequestCount);
        Assert.Equal(0, M3ter.ApiRequestCount);
        AssertNothingSentWithoutToken();
    }

    [Fact]
    public async Task TokenEndpoint_HugeExpiresIn_TokenIsUsedButTrustedForAtMostADay()
    {
        M3ter.EnqueueTokenFault(M3terFault.Ok("{\"access_token\":\"" + M3ter.CreatePreIssuedToken(TimeSpan.FromHours(1)) + "\",\"expires_in\":99999999999}"));

        using HttpResponseMessage response = await Call();
        M3terToken token = await Services.GetRequiredService<ITokenProvider>().GetTokenAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.InRange(token.ExpiresAt, DateTimeOffset.UtcNow.AddHours(23), DateTimeOffset.UtcNow.AddDays(1));
        AssertNothingSentWithoutToken();
    }

    public static TheoryData<HttpStatusCode, string, string, string?, string?> Rejections => new()
    {
        { HttpStatusCode.BadRequest, "{\"error\":\"invalid_request\",\"error_description\":\"grant_type missing\"}", "application/json", "invalid_request", "grant_type missing" },
        { HttpStatusCode.Unauthorized, "{\"error\":\"invalid_client\",\"error_description\":\"Bad credentials\"}", "application/json", "invalid_client", "Bad credentials" },
        { HttpStatusCode.Unauthorized, "{\"message\":\"Unauthorized\"}", "application/json", null, "Unauthorized" },
        { HttpStatusCode.Forbidden, "{\"message\":\"Access key is inactive\"}", "application/json", null, "Access key is inactive" },
        { HttpStatusCode.Forbidden, "<html><h1>403 Forbidden</h1></html>", "text/html", null, null },
        { HttpStatusCode.Unauthorized, "", "text/plain", null, null },
    };

    [Theory]
    [MemberData(nameof(Rejections))]
    public async Task TokenEndpoint_RejectsCredentials_NotRetried_RememberedSoHeavyTrafficMakesNoStorm(HttpStatusCode status, string body, string contentType, string? error, string? description)
    {
        M3ter.PersistentTokenFault = M3terFault.Status(status, body, contentType);
        HttpClient api = Api;

        M3terAuthException[] failures = await Task.WhenAll(Enumerable.Range(0, 100).Select(async _ =>
        {
            Exception? e = await Record.ExceptionAsync(() => api.GetAsync(new Uri(OrgPath(), UriKind.Relative)).WaitAsync(NoHang));
            return Assert.IsType<M3terAuthException>(e);
        }));

        Assert.All(failures, f =>
        {
            Assert.Equal(status, f.StatusCode);
            Assert.Equal(error, f.Error);
            Assert.Equal(description, f.ErrorDescription);
            Assert.True(f.IsCredentialRejection);
        });
        Assert.Equal(1, M3ter.TokenRequestCount);
        Assert.Equal(0, M3ter.ApiRequestCount);
        AssertNothingSentWithoutToken();
    }

    public static TheoryData<string> Bodies => new() { "small", "streamed-non-seekable", "large" };

    [Theory]
    [MemberData(nameof(Bodies))]
    public async Task Api_403ForARevokedToken_IsReplayedOnceWithTheSameBody(string kind)
    {
        await Call();
        M3ter.RevokeAllTokens();
        int count = kind == "large" ? 1000 : 3;
        string body = "{\"measurements\":[" + string.Join(",", Enumerable.Range(0, count).Select(i =>
            $"{{\"uid\":\"{i}-{new string('x', kind == "large" ? 300 : 1)}\",\"meter\":\"m\",\"account\":\"a\",\"ts\":\"2026-11-27T00:00:00Z\"}}")) + "]}";
        HttpContent content = kind == "streamed-non-seekable"
            ? new StreamContent(new ForwardOnlyStream(Encoding.UTF8.GetBytes(body)))
            : new StringContent(body, Encoding.UTF8, "application/json");

        using HttpResponseMessage response = await Ingest.PostAsync(new Uri(OrgPath("/measurements"), UriKind.Relative), content).WaitAsync(NoHang);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var ingests = M3ter.Requests.Where(r => r.Kind == M3terRequestKind.Ingest).ToArray();
        Assert.Equal(new int?[] { 403, 200 }, ingests.Select(r => r.StatusCode));
        Assert.All(ingests, r => Assert.Equal(body, r.BodyText));
        Assert.Equal(2, M3ter.TokenRequestCount);
        AssertNothingSentWithoutToken();
    }

    [Fact]
    public async Task Api_401ForAnInvalidToken_IsReplayedOnceWithAFreshToken()
    {
        await Call();
        M3ter.InvalidTokenStatusCode = HttpStatusCode.Unauthorized;
        M3ter.RevokeAllTokens();

        using HttpResponseMessage response = await Call();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(new int?[] { 200, 401, 200 }, M3ter.Requests.Where(r => r.Kind == M3terRequestKind.Config).Select(r => r.StatusCode));
        Assert.Equal(2, M3ter.TokenRequestCount);
        AssertNothingSentWithoutToken();
    }

    [Fact]
    public async Task Api_Permanent403_IsReturnedToTheCaller_WithAtMostOneExtraTokenRequest()
    {
        M3ter.DenyPermission("/products");

        for (int i = 0; i < 30; i++)
        {
            using HttpResponseMessage response = await Call();
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        }

        Assert.Equal(2, M3ter.TokenRequestCount);
        Assert.Equal(31, M3ter.ApiRequestCount);
        AssertNothingSentWithoutToken();
    }

    [Fact]
    public async Task Api_TokenRevokedAndNoNewTokenObtainable_FailsClosed()
    {
        await Call();
        M3ter.RevokeAllTokens();
        M3ter.PersistentTokenFault = M3terFault.Status(HttpStatusCode.Unauthorized, "{\"error\":\"invalid_client\"}");

        M3terAuthException error = await CallFails();

        Assert.Equal(HttpStatusCode.Unauthorized, error.StatusCode);
        Assert.Equal(2, M3ter.ApiRequestCount); // the first call and the refused one; no replay without a token
        AssertNothingSentWithoutToken();
    }
}
