using System;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth.TestSupport;
using Microsoft.Extensions.Time.Testing;

namespace M3ter.Auth.Tests;

/// <summary>The handler through <c>SendAsync</c>.</summary>
public sealed class M3terAuthHandlerAsyncTests() : M3terAuthHandlerTests(isAsync: true);

/// <summary>The handler through the synchronous <c>Send</c>.</summary>
public sealed class M3terAuthHandlerSyncTests() : M3terAuthHandlerTests(isAsync: false);

/// <summary>
/// The handler's behaviour through both APIs: every test runs once through <c>SendAsync</c> and once through the
/// synchronous <c>Send</c> (as Azure.Core's <c>SyncAsyncPolicyTestBase</c> does), since one body serves both.
/// </summary>
public abstract class M3terAuthHandlerTests
{
    private readonly FakeTimeProvider _time = TestOptions.Clock();
    private readonly FakeTokenClient _tokens;
    private readonly TokenProvider _provider;
    private readonly bool _isAsync;

    protected M3terAuthHandlerTests(bool isAsync)
    {
        _isAsync = isAsync;
        _tokens = new FakeTokenClient(_time);
        _provider = new TokenProvider(_tokens, TestOptions.Create(), _time);
    }

    /// <summary>An <see cref="HttpClient"/> used through the API under test; a synchronous failure comes back as a faulted task.</summary>
    protected sealed class TestClient(HttpClient client, bool isAsync) : IDisposable
    {
        public Task<HttpResponseMessage> SendAsync(HttpRequestMessage request)
        {
            if (isAsync)
            {
                return client.SendAsync(request);
            }

            try
            {
                return Task.FromResult(client.Send(request));
            }
            catch (Exception ex)
            {
                return Task.FromException<HttpResponseMessage>(ex);
            }
        }

        public Task<HttpResponseMessage> GetAsync(Uri uri) => SendAsync(new HttpRequestMessage(HttpMethod.Get, uri));

        public Task<HttpResponseMessage> PostAsync(Uri uri, HttpContent content) => SendAsync(new HttpRequestMessage(HttpMethod.Post, uri) { Content = content });

        public HttpResponseMessage Send(HttpRequestMessage request) => client.Send(request);

        public void Dispose() => client.Dispose();
    }

    /// <summary>A server that answers 403 to any token in <paramref name="refused"/> and records what it received.</summary>
    private sealed class FakeM3ter(Func<HttpRequestMessage, string?, HttpStatusCode>? decide = null) : HttpMessageHandler
    {
        public System.Collections.Concurrent.ConcurrentQueue<(string Uri, string? Auth, string? Body)> Received { get; } = new();

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            string? body = request.Content is null ? null : await request.Content.ReadAsStringAsync(cancellationToken);
            string? auth = request.Headers.Authorization?.ToString();
            Received.Enqueue((request.RequestUri!.ToString(), auth, body));
            return new HttpResponseMessage(decide?.Invoke(request, auth) ?? HttpStatusCode.OK) { RequestMessage = request };
        }

        protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken) =>
            SendAsync(request, cancellationToken).GetAwaiter().GetResult();
    }

    private TestClient Client(HttpMessageHandler server, M3terAuthOptions? options = null) =>
        new(new HttpClient(new M3terAuthHandler(_provider, options ?? TestOptions.Create(), timeProvider: _time) { InnerHandler = server }), _isAsync);

    [Theory]
    [InlineData("https://api.m3ter.com/organizations/org-1/products")]
    [InlineData("https://API.M3TER.COM/organizations/org-1")]
    [InlineData("https://api.m3ter.com:443/organizations/org-1")]
    [InlineData("HTTPS://api.m3ter.com/organizations/org-1")]
    [InlineData("https://api.m3ter.com")]
    [InlineData("https://ingest.m3ter.com/organizations/org-1/measurements")]
    public async Task SendAsync_RequestToM3terHosts_CarriesBearerToken(string url)
    {
        var server = new FakeM3ter();

        using HttpResponseMessage response = await Client(server).GetAsync(new Uri(url));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Bearer token-1", server.Received.Single().Auth);
    }

    [Fact]
    public async Task SendAsync_NonProductionEnvironment_IngestCounterpartGetsTheTokenToo()
    {
        var server = new FakeM3ter();
        TestClient client = Client(server, TestOptions.Create(o => o.BaseAddress = new Uri("https://api.eu.m3ter.com")));

        await client.PostAsync(new Uri("https://ingest.eu.m3ter.com/organizations/org-1/measurements"), new StringContent("{}"));

        Assert.Equal("Bearer token-1", server.Received.Single().Auth);
    }

    [Theory]
    [InlineData("https://example.com/organizations/org-1")]
    [InlineData("https://api.m3ter.com.evil.example/organizations/org-1")]
    [InlineData("https://evil.example/api.m3ter.com")]
    [InlineData("http://api.m3ter.com/organizations/org-1")]
    [InlineData("https://api.m3ter.com:8443/organizations/org-1")]
    [InlineData("https://ingest.eu.m3ter.com/organizations/org-1")]
    [InlineData("https://m3ter.com/")]
    [InlineData("https://api.m3ter.com@evil.example/organizations/org-1")]
    [InlineData("https://api.m3ter.com:443@evil.example/")]
    [InlineData("https://api.m3ter.comm/organizations/org-1")]
    public async Task SendAsync_OtherHosts_NeverSeeTheTokenAndCauseNoTokenRequest(string url)
    {
        var server = new FakeM3ter();

        await Client(server).GetAsync(new Uri(url));

        Assert.Null(server.Received.Single().Auth);
        Assert.Equal(0, _tokens.Calls);
    }

    [Fact]
    public async Task SendAsync_ExistingAuthorizationHeader_IsReplacedByTheM3terToken()
    {
        var server = new FakeM3ter();
        using var request = new HttpRequestMessage(HttpMethod.Get, "https://api.m3ter.com/organizations/org-1");
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "stale-user-token");

        await Client(server).SendAsync(request);

        Assert.Equal("Bearer token-1", server.Received.Single().Auth);
        Assert.Equal("Bearer stale-user-token", request.Headers.Authorization?.ToString()); // given back once sent
    }

    [Theory]
    [InlineData(HttpStatusCode.Forbidden)]
    [InlineData(HttpStatusCode.Unauthorized)]
    public async Task SendAsync_TokenRefused_ReplaysOnceWithFreshTokenAndSameBody(HttpStatusCode refusal)
    {
        var server = new FakeM3ter((_, auth) => auth == "Bearer token-1" ? refusal : HttpStatusCode.OK);

        using HttpResponseMessage response = await Client(server).PostAsync(
            new Uri("https://ingest.m3ter.com/organizations/org-1/measurements"), new StringContent("{\"measurements\":[1]}", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var received = server.Received.ToArray();
        Assert.Equal(2, received.Length);
        Assert.Equal(new[] { "Bearer token-1", "Bearer token-2" }, received.Select(r => r.Auth));
        Assert.All(received, r => Assert.Equal("{\"measurements\":[1]}", r.Body));
        Assert.Equal(2, _tokens.Calls);
    }

    [Fact]
    public async Task SendAsync_TokenRefusedWithNonSeekableStreamBody_ReplaysTheIdenticalBody()
    {
        var server = new FakeM3ter((_, auth) => auth == "Bearer token-1" ? HttpStatusCode.Forbidden : HttpStatusCode.OK);
        byte[] payload = Encoding.UTF8.GetBytes("{\"measurements\":[" + string.Join(",", Enumerable.Range(0, 20_000)) + "]}");
        var content = new StreamContent(new ForwardOnlyStream(payload));

        using HttpResponseMessage response = await Client(server).PostAsync(new Uri("https://ingest.m3ter.com/organizations/org-1/measurements"), content);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var received = server.Received.ToArray();
        Assert.Equal(2, received.Length);
        Assert.All(received, r => Assert.Equal(Encoding.UTF8.GetString(payload), r.Body));
    }

    [Fact]
    public async Task SendAsync_ReplayRefusedToo_ReturnsTheReplaysResponse_AndLaterRefusalsForceNoNewTokens()
    {
        var server = new FakeM3ter((_, _) => HttpStatusCode.Forbidden); // a permission m3ter denies, whatever the token
        TestClient client = Client(server);

        for (int i = 0; i < 50; i++)
        {
            using HttpResponseMessage response = await client.GetAsync(new Uri("https://api.m3ter.com/organizations/org-1/secret-things"));
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        }

        Assert.Equal(2, _tokens.Calls); // the first token, plus one fresh token to rule out expiry
        Assert.Equal(51, server.Received.Count); // 50 calls, one of them replayed

        // After the cool-down one more fresh token is tried, in case the token really did go bad meanwhile.
        _time.Advance(M3ter.Auth.Internal.Replay.PermanentRejectionCooldown);
        await client.GetAsync(new Uri("https://api.m3ter.com/organizations/org-1/secret-things"));
        Assert.Equal(3, _tokens.Calls);
    }

    [Fact]
    public async Task SendAsync_ConcurrentRefusalsOfOneRevokedToken_ShareOneNewToken()
    {
        _tokens.Gate = null;
        var server = new FakeM3ter((_, auth) => auth == "Bearer token-1" ? HttpStatusCode.Forbidden : HttpStatusCode.OK);
        TestClient client = Client(server);
        await _provider.GetTokenAsync();

        HttpResponseMessage[] responses = await Task.WhenAll(Enumerable.Range(0, 200)
            .Select(_ => Task.Run(() => client.GetAsync(new Uri("https://api.m3ter.com/organizations/org-1/products")))));

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.Equal(2, _tokens.Calls);
    }

    [Fact]
    public async Task SendAsync_NoTokenObtainable_ThrowsM3terAuthExceptionAndSendsNothing()
    {
        var server = new FakeM3ter();
        _tokens.Behaviour = _ => Task.FromException<M3terToken>(new M3terAuthException("m3ter rejected the credentials", HttpStatusCode.Unauthorized, "invalid_client", null));

        var error = await Assert.ThrowsAsync<M3terAuthException>(() => Client(server).GetAsync(new Uri("https://api.m3ter.com/organizations/org-1")));

        Assert.Equal(HttpStatusCode.Unauthorized, error.StatusCode);
        Assert.Empty(server.Received);
    }

    [Fact]
    public async Task SendAsync_UnexpectedProviderFailure_IsReportedAsM3terAuthExceptionAndSendsNothing()
    {
        var server = new FakeM3ter();
        _tokens.Behaviour = _ => Task.FromException<M3terToken>(new InvalidOperationException("custom client bug"));

        var error = await Assert.ThrowsAsync<M3terAuthException>(() => Client(server).GetAsync(new Uri("https://api.m3ter.com/organizations/org-1")));

        Assert.IsType<InvalidOperationException>(error.InnerException);
        Assert.Empty(server.Received);
    }

    [Fact]
    public async Task SendAsync_TokenUnobtainableForTheReplay_ThrowsAndSendsNoReplay()
    {
        var server = new FakeM3ter((_, _) => HttpStatusCode.Forbidden);
        _tokens.Behaviour = call => call == 1
            ? Task.FromResult(_tokens.Issue(call))
            : Task.FromException<M3terToken>(new M3terAuthException("key deactivated", HttpStatusCode.Unauthorized, null, null));

        await Assert.ThrowsAsync<M3terAuthException>(() => Client(server).GetAsync(new Uri("https://api.m3ter.com/organizations/org-1")));

        Assert.Single(server.Received);
    }

    [Fact]
    public void Send_Synchronous_AttachesTokenAndReplaysWithBody()
    {
        var server = new FakeM3ter((_, auth) => auth == "Bearer token-1" ? HttpStatusCode.Forbidden : HttpStatusCode.OK);
        using var request = new HttpRequestMessage(HttpMethod.Post, "https://ingest.m3ter.com/organizations/org-1/measurements")
        {
            Content = new StreamContent(new ForwardOnlyStream(Encoding.UTF8.GetBytes("{\"measurements\":[2]}"))),
        };

        using HttpResponseMessage response = Client(server).Send(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(new[] { "Bearer token-1", "Bearer token-2" }, server.Received.Select(r => r.Auth));
        Assert.All(server.Received, r => Assert.Equal("{\"measurements\":[2]}", r.Body));
    }

    [Fact]
    public void Send_SynchronousToOtherHost_PassesThroughWithoutToken()
    {
        var server = new FakeM3ter();

        using HttpResponseMessage response = Client(server).Send(new HttpRequestMessage(HttpMethod.Get, "https://example.com/"));

        Assert.Null(server.Received.Single().Auth);
    }

    [Fact]
    public async Task SendAsync_WarmPath_ReusesOneHeaderValuePerToken()
    {
        var seen = new System.Collections.Concurrent.ConcurrentQueue<System.Net.Http.Headers.AuthenticationHeaderValue?>();
        TestClient client = Client(new DelegateHandler((request, _) =>
        {
            seen.Enqueue(request.Headers.Authorization);
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK));
        }));
        using var first = new HttpRequestMessage(HttpMethod.Get, "https://api.m3ter.com/organizations/org-1");
        using var second = new HttpRequestMessage(HttpMethod.Get, "https://api.m3ter.com/organizations/org-1");

        await client.SendAsync(first);
        await client.SendAsync(second);

        var values = seen.ToArray();
        Assert.Equal(2, values.Length);
        Assert.NotNull(values[0]);
        Assert.Same(values[0], values[1]);
    }

    [Fact]
    public async Task SendAsync_RememberedCredentialRejection_EachCallerGetsItsOwnExceptionThatDoesNotGrow()
    {
        // A wrong secret under steady traffic: every call fails at once from the remembered rejection. Each caller
        // must get an exception of its own; one shared instance grows its stack trace with every rethrow.
        var endpoint = new DelegateHandler((_, _) => Task.FromResult(new HttpResponseMessage(HttpStatusCode.Unauthorized)
        {
            Content = new StringContent("{\"error\":\"invalid_client\",\"error_description\":\"Bad credentials\"}"),
        }));
        var api = new FakeM3ter();
        M3terAuthOptions options = TestOptions.Create(o => o.RejectedCredentialsCacheDuration = TimeSpan.FromMinutes(5));
        using var provider = new TokenProvider(new TokenClient(new HttpClient(endpoint), options, _time), options, _time);
        using var client = new TestClient(new HttpClient(new M3terAuthHandler(provider, options, timeProvider: _time) { InnerHandler = api }), _isAsync);
        var url = new Uri("https://api.m3ter.com/organizations/org-1/products");

        const int Calls = 5_000;
        int[] lengths = new int[Calls];
        var seen = new System.Collections.Generic.HashSet<Exception>(System.Collections.Generic.ReferenceEqualityComparer.Instance);
        M3terAuthException? last = null;
        for (int i = 0; i < Calls; i++)
        {
            last = await Assert.ThrowsAsync<M3terAuthException>(() => client.GetAsync(url));
            lengths[i] = last.ToString().Length;
            Assert.True(seen.Add(last), $"call {i + 1} got an exception instance another caller got");
        }

        Assert.Equal(1, endpoint.Calls);
        Assert.Empty(api.Received);
        Assert.Equal(HttpStatusCode.Unauthorized, last!.StatusCode);
        Assert.Equal("invalid_client", last.Error);
        Assert.True(lengths[^1] < 10_000, $"the last exception's ToString() is {lengths[^1]} characters long");
        Assert.True(lengths[^1000..].Max() <= lengths[1..1001].Max(), $"exceptions grew from {lengths[1..1001].Max()} to {lengths[^1000..].Max()} characters");
        Assert.DoesNotContain(TestOptions.Secret, last.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task SendAsync_TokenRequestThroughAWrappedClient_PassesThroughUntouchedInsteadOfWaitingForItself()
    {
        // The token client's own HttpClient wrapped by the auth handler (ConfigureHttpClientDefaults does this): the
        // token request must not ask for a token, or it waits for itself.
        M3terAuthOptions options = TestOptions.Create();
        string? tokenRequestAuthorization = null;
        var endpoint = new DelegateHandler((request, _) =>
        {
            tokenRequestAuthorization = request.Headers.Authorization?.ToString();
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent("{\"access_token\":\"self-token\",\"expires_in\":3600}") });
        });
        TokenProvider? provider = null;
        var selfWrapped = new HttpClient(new M3terAuthHandler(new LazyProvider(() => provider!), options, timeProvider: _time) { InnerHandler = endpoint });
        provider = new TokenProvider(new TokenClient(selfWrapped, options, _time), options, _time);

        M3terToken token = await provider.GetTokenAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal("self-token", token.AccessToken);
        Assert.Equal("Basic " + TestOptions.BasicValue, tokenRequestAuthorization);
        Assert.Equal(1, endpoint.Calls);
    }

    private sealed class LazyProvider(Func<ITokenProvider> provider) : ITokenProvider
    {
        public ValueTask<M3terToken> GetTokenAsync(CancellationToken cancellationToken = default) => provider().GetTokenAsync(cancellationToken);

        public void Invalidate(M3terToken token) => provider().Invalidate(token);
    }

    private sealed class SynchronouslyThrowingProvider : ITokenProvider
    {
        public ValueTask<M3terToken> GetTokenAsync(CancellationToken cancellationToken = default) => throw new InvalidOperationException("provider broke synchronously");

        public void Invalidate(M3terToken token)
        {
        }
    }

    [Fact]
    public async Task AProviderThatThrowsInsteadOfFaulting_IsAnM3terAuthException_AndNothingIsSent()
    {
        var server = new FakeM3ter();
        using var client = new TestClient(new HttpClient(new M3terAuthHandler(new SynchronouslyThrowingProvider(), TestOptions.Create(), timeProvider: _time) { InnerHandler = server }), _isAsync);

        M3terAuthException error = await Assert.ThrowsAsync<M3terAuthException>(() => client.GetAsync(new Uri("https://api.m3ter.com/organizations/org-1/meters")));

        Assert.IsType<InvalidOperationException>(error.InnerException);
        Assert.Empty(server.Received);
    }

    [Fact]
    public void Constructor_InvalidOptions_Throws()
    {
        Assert.Throws<ArgumentException>(() => new M3terAuthHandler(_provider, new M3terAuthOptions()));
        Assert.Throws<ArgumentNullException>(() => new M3terAuthHandler(null!, TestOptions.Create()));
    }
}

public sealed class M3terAuthOptionsTests
{
    [Theory]
    [InlineData("https://api.m3ter.com", "https://ingest.m3ter.com/")]
    [InlineData("https://api.eu.m3ter.com/", "https://ingest.eu.m3ter.com/")]
    [InlineData("https://API.dev.m3ter.com:8443/", "https://ingest.dev.m3ter.com:8443/")]
    [InlineData("http://127.0.0.1:5000", "http://127.0.0.1:5000/")]
    [InlineData("https://m3ter-proxy.internal/", "https://m3ter-proxy.internal/")]
    public void IngestBaseAddress_ReplacesApiWithIngest(string baseAddress, string expected)
    {
        var options = new M3terAuthOptions { BaseAddress = new Uri(baseAddress) };

        Assert.Equal(new Uri(expected), options.IngestBaseAddress);
    }

    [Fact]
    public void BaseAddress_WithoutTrailingSlash_GetsOne()
    {
        Assert.Equal("https://api.m3ter.com/gateway/", new M3terAuthOptions { BaseAddress = new Uri("https://api.m3ter.com/gateway") }.BaseAddress.ToString());
    }
}
