using System;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth.Internal;
using M3ter.Auth.TestSupport;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using RichardSzalay.MockHttp;

namespace M3ter.Auth.Tests;

public sealed class TokenClientTests
{
    private const string TokenUrl = "https://api.m3ter.com/oauth/token";
    private const string GoodBody = "{\"access_token\":\"eyJ.the-token.sig\",\"token_type\":\"Bearer\",\"expires_in\":18000,\"scope\":null}";

    private readonly MockHttpMessageHandler _http = new();
    private readonly FakeTimeProvider _time = TestOptions.Clock();
    private readonly CapturingLoggerProvider _logs = new();

    public TokenClientTests()
    {
        _http.Fallback.Throw(new InvalidOperationException("Unexpected request"));
    }

    private TokenClient CreateClient(Action<M3terAuthOptions>? configure = null) =>
        new(_http.ToHttpClient(), TestOptions.Create(configure), _time, new Logger<TokenClient>(new LoggerFactory(new[] { _logs })));

    [Fact]
    public async Task RequestTokenAsync_PostsJsonGrantWithBasicCredentials_ToOauthTokenEndpoint()
    {
        string? contentType = null, body = null;
        AuthenticationHeaderValue? authorization = null;
        _http.Expect(HttpMethod.Post, TokenUrl).With(request =>
        {
            authorization = request.Headers.Authorization;
            contentType = request.Content!.Headers.ContentType!.MediaType;
            body = request.Content.ReadAsStringAsync().GetAwaiter().GetResult();
            return true;
        }).Respond("application/json", GoodBody);

        M3terToken token = await CreateClient().RequestTokenAsync();

        _http.VerifyNoOutstandingExpectation();
        Assert.Equal("Basic", authorization!.Scheme);
        Assert.Equal(TestOptions.BasicValue, authorization.Parameter);
        Assert.Equal("application/json", contentType);
        Assert.Equal("{\"grant_type\":\"client_credentials\"}", body);
        Assert.Equal("eyJ.the-token.sig", token.AccessToken);
        Assert.Equal("Bearer", token.TokenType);
    }

    [Fact]
    public async Task RequestTokenAsync_BaseAddressWithPath_PostsBelowIt()
    {
        _http.Expect(HttpMethod.Post, "https://api.eu.m3ter.com/gateway/oauth/token").Respond("application/json", GoodBody);

        await CreateClient(o => o.BaseAddress = new Uri("https://api.eu.m3ter.com/gateway")).RequestTokenAsync();

        _http.VerifyNoOutstandingExpectation();
    }

    [Fact]
    public async Task RequestTokenAsync_SlowResponse_ExpiryCountsFromWhenTheRequestWasSent()
    {
        DateTimeOffset sentAt = _time.GetUtcNow();
        _http.When(HttpMethod.Post, TokenUrl).Respond(() =>
        {
            _time.Advance(TimeSpan.FromSeconds(40)); // network delay
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(GoodBody) });
        });

        M3terToken token = await CreateClient().RequestTokenAsync();

        Assert.Equal(sentAt + TimeSpan.FromSeconds(18000), token.ExpiresAt);
    }

    [Theory]
    [InlineData("bearer")]
    [InlineData("BEARER")]
    [InlineData(null)]
    public async Task RequestTokenAsync_TokenTypeInAnyCaseOrAbsent_IsAccepted(string? tokenType)
    {
        string json = tokenType is null
            ? "{\"access_token\":\"t\",\"expires_in\":60}"
            : "{\"access_token\":\"t\",\"expires_in\":60,\"token_type\":\"" + tokenType + "\"}";
        _http.When(HttpMethod.Post, TokenUrl).Respond("application/json", json);

        M3terToken token = await CreateClient().RequestTokenAsync();

        Assert.Equal(tokenType ?? "Bearer", token.TokenType);
        Assert.Equal("Bearer", token.HeaderValue.Scheme);
    }

    [Theory]
    [InlineData("<html><body>Gateway says hi</body></html>", "text/html", "the body is not valid JSON: '<' at byte 0 (Content-Type text/html)")]
    [InlineData("{\"access_token\":\"abc\",\"expires_in\":", "application/json", "the body is not valid JSON (it ends too soon)")]
    [InlineData("", "application/json", "the body is empty")]
    [InlineData("null", "application/json", "the body is JSON null, not an object")]
    [InlineData("{\"expires_in\":3600}", "application/json", "no access_token")]
    [InlineData("{\"access_token\":\"\",\"expires_in\":3600}", "application/json", "no access_token")]
    [InlineData("{\"access_token\":\"abc\"}", "application/json", "no expires_in")]
    [InlineData("{\"access_token\":\"abc\",\"expires_in\":0}", "application/json", "expires_in must be a positive number of seconds, but it is 0")]
    [InlineData("{\"access_token\":\"abc\",\"expires_in\":-5}", "application/json", "expires_in must be a positive number of seconds, but it is -5")]
    [InlineData("{\"access_token\":\"abc\",\"expires_in\":\"soon\"}", "application/json", "expires_in is not a number of seconds")]
    [InlineData("{\"access_token\":\"abc\",\"expires_in\":true}", "application/json", "expires_in is not a number of seconds")]
    [InlineData("{\"access_token\":\"abc\",\"expires_in\":1e400}", "application/json", "expires_in is not a number of seconds")]
    [InlineData("{\"access_token\":42,\"expires_in\":3600}", "application/json", "access_token is not a string")]
    [InlineData("{\"access_token\":\"abc\",\"expires_in\":3600,\"token_type\":\"mac\"}", "application/json", "token_type is 'mac', not Bearer")]
    [InlineData("[1,2,3]", "application/json", "the body is a JSON array, not an object")]
    public async Task RequestTokenAsync_MalformedSuccessBody_ThrowsM3terAuthExceptionNamingTheProblem(string body, string mediaType, string problem)
    {
        _http.Expect(HttpMethod.Post, TokenUrl).Respond(HttpStatusCode.OK, mediaType, body);

        var error = await Assert.ThrowsAsync<M3terAuthException>(() => CreateClient().RequestTokenAsync());

        Assert.Equal(HttpStatusCode.OK, error.StatusCode);
        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
        Assert.Contains(TokenUrl, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(TestOptions.Secret, error.ToString(), StringComparison.Ordinal);
        _http.VerifyNoOutstandingExpectation(); // a malformed answer is not retried
    }

    [Theory]
    [InlineData("\uFEFF{\"access_token\":\"abc\",\"expires_in\":18000}", 18000)] // a UTF-8 byte order mark
    [InlineData("{\"access_token\":\"abc\",\"expires_in\":\"18000\"}", 18000)]
    [InlineData("{\"access_token\":\"abc\",\"expires_in\":18000.0}", 18000)]
    [InlineData("{\"access_token\":\"abc\",\"expires_in\":\" 18000 \"}", 18000)]
    [InlineData("{\"access_token\":\"abc\",\"expires_in\":3599.9}", 3599)] // never trusted longer than granted
    [InlineData("{\"access_token\":\"abc\",\"expires_in\":1.8e4}", 18000)]
    public async Task RequestTokenAsync_ExpiresInAsStringOrDecimalOrBodyWithBom_IsAccepted(string body, int seconds)
    {
        DateTimeOffset sentAt = _time.GetUtcNow();
        _http.When(HttpMethod.Post, TokenUrl).Respond(_ => new HttpResponseMessage(HttpStatusCode.OK)
        {
            Content = new ByteArrayContent(System.Text.Encoding.UTF8.GetBytes(body)) { Headers = { ContentType = new MediaTypeHeaderValue("application/json") } },
        });

        M3terToken token = await CreateClient().RequestTokenAsync();

        Assert.Equal("abc", token.AccessToken);
        Assert.Equal(sentAt + TimeSpan.FromSeconds(seconds), token.ExpiresAt);
    }

    [Fact]
    public async Task TokenRequestsMetric_CountsEveryAttempt_TimedOutOnesToo()
    {
        const string Host = "api.metric-attempts.m3ter.test";
        var outcomes = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using var listener = new System.Diagnostics.Metrics.MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == "M3ter.Auth" && instrument.Name == "m3ter.auth.token.requests")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            string? host = null, outcome = null;
            foreach (var tag in tags)
            {
                if (tag.Key == "server.address")
                {
                    host = tag.Value as string;
                }
                else if (tag.Key == "outcome")
                {
                    outcome = tag.Value as string;
                }
            }

            if (host == Host)
            {
                outcomes.Enqueue(outcome!);
            }
        });
        listener.Start();
        var slow = new DelegateHandler(async (_, ct) =>
        {
            await Task.Delay(TimeSpan.FromSeconds(30), ct);
            return new HttpResponseMessage(HttpStatusCode.OK);
        });
        var client = new TokenClient(new HttpClient(slow), TestOptions.Create(o =>
        {
            o.BaseAddress = new Uri("https://" + Host + "/");
            o.TokenRequestTimeout = TimeSpan.FromMilliseconds(50);
            o.MaxRetryAttempts = 2;
        }), _time);

        await Assert.ThrowsAsync<M3terAuthException>(() => client.RequestTokenAsync());

        Assert.Equal(3, slow.Calls);
        Assert.Equal(new[] { "timeout", "timeout", "timeout" }, outcomes.ToArray());
    }

    [Fact]
    public async Task RequestTokenAsync_HugeExpiresIn_IsCappedAtOneDay()
    {
        _http.When(HttpMethod.Post, TokenUrl).Respond("application/json", "{\"access_token\":\"abc\",\"expires_in\":9223372036854775807}");

        M3terToken token = await CreateClient().RequestTokenAsync();

        Assert.Equal(_time.GetUtcNow() + TimeSpan.FromDays(1), token.ExpiresAt);
    }

    [Theory]
    [InlineData(HttpStatusCode.Unauthorized, "{\"error\":\"invalid_client\",\"error_description\":\"Bad credentials\"}", "invalid_client", "Bad credentials")]
    [InlineData(HttpStatusCode.BadRequest, "{\"error\":\"invalid_request\"}", "invalid_request", null)]
    [InlineData(HttpStatusCode.Forbidden, "{\"message\":\"Forbidden\"}", null, "Forbidden")]
    [InlineData(HttpStatusCode.Unauthorized, "<html>401 Authorization Required</html>", null, null)]
    [InlineData(HttpStatusCode.Unauthorized, "", null, null)]
    public async Task RequestTokenAsync_CredentialsRejected_ThrowsWithServerErrorAndDoesNotRetry(HttpStatusCode status, string body, string? error, string? description)
    {
        _http.Expect(HttpMethod.Post, TokenUrl).Respond(status, "application/json", body);

        var exception = await Assert.ThrowsAsync<M3terAuthException>(() => CreateClient(o => o.MaxRetryAttempts = 3).RequestTokenAsync());

        _http.VerifyNoOutstandingExpectation();
        Assert.Equal(status, exception.StatusCode);
        Assert.Equal(error, exception.Error);
        Assert.Equal(description, exception.ErrorDescription);
        Assert.True(exception.IsCredentialRejection);
        Assert.Contains(((int)status).ToString(System.Globalization.CultureInfo.InvariantCulture), exception.Message, StringComparison.Ordinal);
        Assert.Contains("Check AccessKeyId and ApiSecret", exception.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(TestOptions.Secret, exception.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(TestOptions.BasicValue, exception.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("<html>", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RequestTokenAsync_ServerEchoesTheSecret_ItIsRedactedFromTheException()
    {
        _http.When(HttpMethod.Post, TokenUrl).Respond(HttpStatusCode.Unauthorized, "application/json",
            "{\"error\":\"invalid_client\",\"error_description\":\"secret " + TestOptions.Secret + " / " + TestOptions.BasicValue + " is wrong\"}");

        var exception = await Assert.ThrowsAsync<M3terAuthException>(() => CreateClient().RequestTokenAsync());

        Assert.DoesNotContain(TestOptions.Secret, exception.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(TestOptions.BasicValue, exception.ToString(), StringComparison.Ordinal);
        Assert.Contains("***", exception.ErrorDescription, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(HttpStatusCode.InternalServerError)]
    [InlineData(HttpStatusCode.BadGateway)]
    [InlineData(HttpStatusCode.ServiceUnavailable)]
    [InlineData(HttpStatusCode.GatewayTimeout)]
    [InlineData(HttpStatusCode.RequestTimeout)]
    [InlineData(HttpStatusCode.TooManyRequests)]
    public async Task RequestTokenAsync_TransientFailureThenSuccess_RetriesAndReturnsToken(HttpStatusCode status)
    {
        _http.Expect(HttpMethod.Post, TokenUrl).Respond(status, "text/html", "<html>busy</html>");
        _http.Expect(HttpMethod.Post, TokenUrl).Respond(status);
        _http.Expect(HttpMethod.Post, TokenUrl).Respond("application/json", GoodBody);

        M3terToken token = await CreateClient(o => o.MaxRetryAttempts = 3).RequestTokenAsync();

        _http.VerifyNoOutstandingExpectation();
        Assert.Equal("eyJ.the-token.sig", token.AccessToken);
    }

    [Fact]
    public async Task RequestTokenAsync_TransientFailuresExhaustRetries_ThrowsWithLastStatusAfterBoundedAttempts()
    {
        var request = _http.When(HttpMethod.Post, TokenUrl).Respond(HttpStatusCode.ServiceUnavailable, "application/json", "{\"message\":\"down for maintenance\"}");

        var exception = await Assert.ThrowsAsync<M3terAuthException>(() => CreateClient(o => o.MaxRetryAttempts = 2).RequestTokenAsync());

        Assert.Equal(3, _http.GetMatchCount(request));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, exception.StatusCode);
        Assert.Equal("down for maintenance", exception.ErrorDescription);
        Assert.False(exception.IsCredentialRejection);
        Assert.Contains("Retried up to 2 time(s)", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RequestTokenAsync_NetworkErrors_AreRetriedThenReportedAsM3terAuthException()
    {
        int attempts = 0;
        _http.When(HttpMethod.Post, TokenUrl).Respond(_ =>
        {
            Interlocked.Increment(ref attempts);
            throw new HttpRequestException("Connection refused (127.0.0.1:1)");
        });

        var exception = await Assert.ThrowsAsync<M3terAuthException>(() => CreateClient(o => o.MaxRetryAttempts = 2).RequestTokenAsync());

        Assert.Equal(3, attempts);
        Assert.Null(exception.StatusCode);
        Assert.IsType<HttpRequestException>(exception.InnerException);
        Assert.Contains("could not be reached", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RequestTokenAsync_AttemptSlowerThanTokenRequestTimeout_IsAbandonedRetriedAndReported()
    {
        var slow = new DelegateHandler(async (_, ct) =>
        {
            await Task.Delay(TimeSpan.FromSeconds(30), ct);
            return new HttpResponseMessage(HttpStatusCode.OK);
        });
        var client = new TokenClient(new HttpClient(slow), TestOptions.Create(o => { o.TokenRequestTimeout = TimeSpan.FromMilliseconds(50); o.MaxRetryAttempts = 1; }), _time);

        var exception = await Assert.ThrowsAsync<M3terAuthException>(() => client.RequestTokenAsync());

        Assert.Equal(2, slow.Calls);
        Assert.Contains("TokenRequestTimeout", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RequestTokenAsync_CallerCancels_ThrowsOperationCanceledWithoutRetrying()
    {
        using var cts = new CancellationTokenSource();
        var hanging = new DelegateHandler(async (_, ct) =>
        {
            cts.Cancel();
            await Task.Delay(Timeout.Infinite, ct);
            return new HttpResponseMessage(HttpStatusCode.OK);
        });
        var client = new TokenClient(new HttpClient(hanging), TestOptions.Create(o => o.MaxRetryAttempts = 3), _time);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.RequestTokenAsync(cts.Token));

        Assert.Equal(1, hanging.Calls);
    }

    [Fact]
    public async Task RequestTokenAsync_RetryAfterLongerThanThirtySeconds_IsNotWaitedFor()
    {
        var request = _http.When(HttpMethod.Post, TokenUrl).Respond(_ =>
        {
            var response = new HttpResponseMessage(HttpStatusCode.TooManyRequests);
            response.Headers.RetryAfter = new RetryConditionHeaderValue(TimeSpan.FromMinutes(10));
            return response;
        });

        var exception = await Assert.ThrowsAsync<M3terAuthException>(() => CreateClient(o => o.MaxRetryAttempts = 3).RequestTokenAsync());

        Assert.Equal(1, _http.GetMatchCount(request));
        Assert.Equal(HttpStatusCode.TooManyRequests, exception.StatusCode);
        Assert.Contains("retry after 600 s", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RequestTokenAsync_Logs_NeverContainSecretsOrTokens()
    {
        _http.Expect(HttpMethod.Post, TokenUrl).Respond(HttpStatusCode.ServiceUnavailable);
        _http.Expect(HttpMethod.Post, TokenUrl).Respond("application/json", GoodBody);

        await CreateClient(o => o.MaxRetryAttempts = 1).RequestTokenAsync();

        Assert.NotEmpty(_logs.Logs);
        Assert.Contains(_logs.Logs, l => l.EventId.Name == "TokenRequestRetrying");
        Assert.Contains(_logs.Logs, l => l.EventId.Name == "TokenAcquired");
        Assert.DoesNotContain(TestOptions.Secret, _logs.AllText, StringComparison.Ordinal);
        Assert.DoesNotContain(TestOptions.BasicValue, _logs.AllText, StringComparison.Ordinal);
        Assert.DoesNotContain("eyJ.the-token.sig", _logs.AllText, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("m3ter rejected the credentials")]
    [InlineData("but not with a token")]
    [InlineData("did not answer within")]
    public async Task ReadmeTroubleshootingQuotes_AreTheRealMessages(string row)
    {
        // The README quotes these messages with … for what varies; each quote must match what the code really says.
        M3terAuthException error;
        if (row == "did not answer within")
        {
            var slow = new DelegateHandler(async (_, ct) =>
            {
                await Task.Delay(TimeSpan.FromMinutes(1), ct);
                return new HttpResponseMessage(HttpStatusCode.OK);
            });
            var options = TestOptions.Create(o => { o.MaxRetryAttempts = 0; o.TokenRequestTimeout = TimeSpan.FromMilliseconds(20); });
            error = await Assert.ThrowsAsync<M3terAuthException>(() => new TokenClient(new HttpClient(slow), options, _time).RequestTokenAsync());
            error = new M3terAuthException(error.Message.Replace("20 ms", "10 s", StringComparison.Ordinal)); // the default timeout, as quoted
        }
        else
        {
            _http.When(HttpMethod.Post, TokenUrl).Respond(
                row == "but not with a token" ? HttpStatusCode.OK : HttpStatusCode.Unauthorized,
                row == "but not with a token" ? "text/html" : "application/json",
                row == "but not with a token" ? "<html><body>Proxy login</body></html>" : "{\"error\":\"invalid_client\",\"error_description\":\"Bad credentials\"}");
            error = await Assert.ThrowsAsync<M3terAuthException>(() => CreateClient().RequestTokenAsync());
        }

        string readme = System.IO.File.ReadAllText(System.IO.Path.Combine(RepositoryRoot.Path, "README.md"));
        string troubleshooting = readme[readme.IndexOf("## Troubleshooting", StringComparison.Ordinal)..];
        string quote = troubleshooting.Split('\n').Select(line => System.Text.RegularExpressions.Regex.Match(line, @"^\| `M3terAuthException: (?<quote>[^`]*)`"))
            .Where(m => m.Success && m.Groups["quote"].Value.Contains(row, StringComparison.Ordinal))
            .Select(m => m.Groups["quote"].Value)
            .Single();
        string pattern = "^" + string.Join(".*", quote.Split('…').Select(System.Text.RegularExpressions.Regex.Escape));
        Assert.Matches(pattern, error.Message);
    }

    [Fact]
    public void Constructor_InvalidOptions_ThrowsArgumentExceptionNamingTheSetting()
    {
        var exception = Assert.Throws<ArgumentException>(() => new TokenClient(new HttpClient(), new M3terAuthOptions { AccessKeyId = "k" }));

        Assert.Contains("M3ter:ApiSecret is required", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Constructor_CopiesOptions_LaterChangesHaveNoEffect()
    {
        var options = TestOptions.Create();
        var client = new TokenClient(new HttpClient(), options);

        options.BaseAddress = new Uri("https://elsewhere.example/");

        Assert.Equal(new Uri(TokenUrl), client.TokenEndpoint);
    }

    [Theory]
    [InlineData("t\u00f6ken", 2)]
    [InlineData("eyJ.the token.sig", 8)]
    [InlineData(" eyJ.the-token.sig", 1)]
    [InlineData("eyJ.the-token.sig\\n", 18)]
    [InlineData("==abc", 1)]
    [InlineData("abc=def", 5)]
    public async Task RequestTokenAsync_AccessTokenThatIsNoValidHeaderValue_IsAMalformedResponse(string accessToken, int position)
    {
        // Accepted, such a token would fail every request for its whole life ("Request headers must contain only
        // ASCII characters") and never be replaced: it is refused here, without echoing it.
        _http.When(HttpMethod.Post, TokenUrl).Respond("application/json", "{\"access_token\":\"" + accessToken + "\",\"token_type\":\"Bearer\",\"expires_in\":18000}");

        var exception = await Assert.ThrowsAsync<M3terAuthException>(() => CreateClient().RequestTokenAsync());

        Assert.Contains("its access_token is not a valid bearer token", exception.Message, StringComparison.Ordinal);
        Assert.Contains("character " + position.ToString(System.Globalization.CultureInfo.InvariantCulture) + " ", exception.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(accessToken, exception.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln")]
    [InlineData("a-b.c_d~e+f/g==")]
    public async Task RequestTokenAsync_AccessTokenOfEveryB64TokenCharacter_IsAccepted(string accessToken)
    {
        _http.When(HttpMethod.Post, TokenUrl).Respond("application/json", "{\"access_token\":\"" + accessToken + "\",\"expires_in\":18000}");

        M3terToken token = await CreateClient().RequestTokenAsync();

        Assert.Equal(accessToken, token.AccessToken);
    }

    [Fact]
    public async Task RequestTokenAsync_ServerEchoesTheCredentialsInTokenTypeOrContentType_TheyAreRedacted()
    {
        _http.Expect(HttpMethod.Post, TokenUrl).Respond("application/json",
            "{\"access_token\":\"abc\",\"token_type\":\"Basic " + TestOptions.BasicValue + " " + TestOptions.Secret + "\",\"expires_in\":18000}");
        _http.Expect(HttpMethod.Post, TokenUrl).Respond(_ =>
        {
            var content = new StringContent("<html>" + TestOptions.Secret + "</html>");
            content.Headers.ContentType = new MediaTypeHeaderValue("text/" + TestOptions.Secret);
            return new HttpResponseMessage(HttpStatusCode.OK) { Content = content };
        });
        TokenClient client = CreateClient();

        var tokenType = await Assert.ThrowsAsync<M3terAuthException>(() => client.RequestTokenAsync());
        var contentType = await Assert.ThrowsAsync<M3terAuthException>(() => client.RequestTokenAsync());

        Assert.Contains("its token_type is 'Basic *** ***', not Bearer", tokenType.Message, StringComparison.Ordinal);
        Assert.Contains("(Content-Type text/***)", contentType.Message, StringComparison.Ordinal);
        foreach (string text in new[] { tokenType.ToString(), contentType.ToString(), _logs.AllText })
        {
            Assert.DoesNotContain(TestOptions.Secret, text, StringComparison.Ordinal);
            Assert.DoesNotContain(TestOptions.BasicValue, text, StringComparison.Ordinal);
        }
    }
}
