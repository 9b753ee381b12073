using System;
using System.Collections.Concurrent;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using Azure;
using Azure.Core;
using Azure.Core.Pipeline;
using BenchmarkDotNet.Attributes;
using Microsoft.Identity.Client;

namespace M3ter.Auth.Benchmarks;

/// <summary>
/// 9. The same jobs through the peers, in one process and one run: what each charges.
/// Warm, per request: <see cref="M3terAuthHandler"/> on an <see cref="HttpClient"/>, and Azure.Core's
/// <see cref="BearerTokenAuthenticationPolicy"/> on an <see cref="HttpPipeline"/> whose transport is an
/// <see cref="HttpClient"/>; both end at the same in-memory handler (<see cref="FreshOkHandler"/>, a new empty 200 each time, as the Azure transport reads and disposes what it gets), and each has its
/// floor (the same pipeline without authentication), so "added per request" is the difference.
/// Warm, a cached token: <see cref="TokenProvider.GetTokenAsync"/> against MSAL.NET's
/// <c>AcquireTokenForClient(...).ExecuteAsync()</c> with its token cache warm (an in-memory OIDC authority).
/// </summary>
[MemoryDiagnoser]
public class PeerWarmBenchmarks
{
    private static readonly Uri Url = new("https://api.m3ter.com/organizations/org-1/products");
    private static readonly string[] Scopes = ["api://m3ter-bench/.default"];
    private HttpClient _floor = null!;
    private HttpClient _m3ter = null!;
    private HttpPipeline _azureFloor = null!;
    private HttpPipeline _azure = null!;
    private TokenProvider _provider = null!;
    private IConfidentialClientApplication _msal = null!;

    [GlobalSetup]
    public async Task Setup()
    {
        TimeProvider time = TimeProvider.System;
        M3terAuthOptions options = BenchOptions.Create();
        _provider = new TokenProvider(new BenchTokenClient(time, TimeSpan.FromHours(5)), options, time);
        await _provider.GetTokenAsync();
        _floor = new HttpClient(new FreshOkHandler());
        _m3ter = new HttpClient(new M3terAuthHandler(_provider, options, timeProvider: time) { InnerHandler = new FreshOkHandler() });

        var transport = new HttpClientTransport(new HttpClient(new FreshOkHandler()));
        _azureFloor = new HttpPipeline(transport);
        _azure = new HttpPipeline(transport, [new BearerTokenAuthenticationPolicy(new FixedCredential(), "api://m3ter-bench/.default")]);
        using (Response first = await SendAzureAsync(_azure))
        {
            if (first.Status != 200)
            {
                throw new InvalidOperationException("the Azure pipeline did not reach the handler");
            }
        }

        _msal = InMemoryAuthority.Msal(new InMemoryAuthority(TimeSpan.Zero));
        await _msal.AcquireTokenForClient(Scopes).ExecuteAsync();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _floor.Dispose();
        _m3ter.Dispose();
        _provider.Dispose();
    }

    [Benchmark(Baseline = true, Description = "HttpClient, no auth (floor)")]
    public async Task<HttpStatusCode> HttpClientFloor()
    {
        using HttpResponseMessage response = await _floor.GetAsync(Url).ConfigureAwait(false);
        return response.StatusCode;
    }

    [Benchmark(Description = "HttpClient + M3terAuthHandler, warm")]
    public async Task<HttpStatusCode> M3terHandler()
    {
        using HttpResponseMessage response = await _m3ter.GetAsync(Url).ConfigureAwait(false);
        return response.StatusCode;
    }

    [Benchmark(Description = "Azure HttpPipeline, no auth (floor)")]
    public async Task<int> AzurePipelineFloor()
    {
        using Response response = await SendAzureAsync(_azureFloor).ConfigureAwait(false);
        return response.Status;
    }

    [Benchmark(Description = "Azure HttpPipeline + BearerTokenAuthenticationPolicy, warm")]
    public async Task<int> AzureBearerPolicy()
    {
        using Response response = await SendAzureAsync(_azure).ConfigureAwait(false);
        return response.Status;
    }

    [Benchmark(Description = "TokenProvider.GetTokenAsync, cached")]
    public ValueTask<M3terToken> M3terCachedToken() => _provider.GetTokenAsync();

    [Benchmark(Description = "MSAL AcquireTokenForClient, cached")]
    public Task<AuthenticationResult> MsalCachedToken() => _msal.AcquireTokenForClient(Scopes).ExecuteAsync();

    private static ValueTask<Response> SendAzureAsync(HttpPipeline pipeline)
    {
        Request request = pipeline.CreateRequest();
        request.Method = RequestMethod.Get;
        request.Uri.Reset(Url);
        return pipeline.SendRequestAsync(request, CancellationToken.None);
    }

    /// <summary>A credential whose token lasts five hours: the policy caches it, as it would a real one.</summary>
    private sealed class FixedCredential : TokenCredential
    {
        private readonly AccessToken _token = new("azure-bench-token", DateTimeOffset.UtcNow.AddHours(5));

        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken) => _token;

        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) => new(_token);
    }
}

/// <summary>
/// 10. Cold: 1,000 concurrent callers on an empty cache, against a token endpoint that takes 50 ms to answer (in
/// memory, over HttpClient for both): M3ter.Auth's <see cref="TokenClient"/> and <see cref="TokenProvider"/>, and
/// MSAL.NET's <c>AcquireTokenForClient</c>. The time is until every caller has a token; the token requests each made
/// are printed after the run ("// token requests").
/// </summary>
[MemoryDiagnoser]
public class PeerColdBenchmarks
{
    private const int Callers = 1000;
    private static readonly string[] Scopes = ["api://m3ter-bench/.default"];
    private static readonly ConcurrentBag<int> M3terRequests = new();
    private static readonly ConcurrentBag<int> MsalRequests = new();
    private readonly Task[] _callers = new Task[Callers];
    private InMemoryAuthority _endpoint = null!;
    private TokenProvider? _provider;
    private IConfidentialClientApplication? _msal;

    [IterationSetup(Target = nameof(M3terColdCallers))]
    public void SetupM3ter()
    {
        _endpoint = new InMemoryAuthority(TimeSpan.FromMilliseconds(50));
        M3terAuthOptions options = BenchOptions.Create();
        _provider = new TokenProvider(new TokenClient(new HttpClient(_endpoint), options), options);
    }

    [IterationSetup(Target = nameof(MsalColdCallers))]
    public void SetupMsal()
    {
        _endpoint = new InMemoryAuthority(TimeSpan.FromMilliseconds(50));
        _msal = InMemoryAuthority.Msal(_endpoint);
    }

    [IterationCleanup(Target = nameof(M3terColdCallers))]
    public void CleanupM3ter()
    {
        M3terRequests.Add(_endpoint.TokenRequests);
        _provider?.Dispose();
    }

    [IterationCleanup(Target = nameof(MsalColdCallers))]
    public void CleanupMsal() => MsalRequests.Add(_endpoint.TokenRequests);

    [GlobalCleanup]
    public void Report()
    {
        foreach ((string who, ConcurrentBag<int> counts) in new[] { ("M3ter.Auth", M3terRequests), ("MSAL.NET", MsalRequests) })
        {
            if (!counts.IsEmpty)
            {
                Console.WriteLine($"// token requests, {who}, {Callers} cold callers: min {counts.Min()}, max {counts.Max()} over {counts.Count} iterations");
            }
        }
    }

    [Benchmark(Baseline = true, Description = "M3ter.Auth: 1,000 cold callers, 50 ms endpoint")]
    public async Task M3terColdCallers()
    {
        for (int i = 0; i < Callers; i++)
        {
            _callers[i] = _provider!.GetTokenAsync().AsTask();
        }

        await Task.WhenAll(_callers).ConfigureAwait(false);
    }

    [Benchmark(Description = "MSAL: 1,000 cold callers, 50 ms endpoint")]
    public async Task MsalColdCallers()
    {
        for (int i = 0; i < Callers; i++)
        {
            _callers[i] = _msal!.AcquireTokenForClient(Scopes).ExecuteAsync();
        }

        await Task.WhenAll(_callers).ConfigureAwait(false);
    }
}

/// <summary>The end of the pipeline: a new empty 200 for every request (each caller disposes its own).</summary>
public sealed class FreshOkHandler : HttpMessageHandler
{
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { RequestMessage = request });
}

/// <summary>
/// An OAuth authority in memory: an OIDC discovery document (for MSAL's <c>WithOidcAuthority</c>) and a token endpoint
/// that answers client-credentials requests after a delay, counting them. m3ter's <c>oauth/token</c> and MSAL's
/// token endpoint are the same handler.
/// </summary>
public sealed class InMemoryAuthority(TimeSpan delay) : HttpMessageHandler
{
    public const string Authority = "https://login.bench.example/tenant/";
    private int _tokenRequests;

    public int TokenRequests => Volatile.Read(ref _tokenRequests);

    public static IConfidentialClientApplication Msal(InMemoryAuthority endpoint) =>
        ConfidentialClientApplicationBuilder.Create("bench-client")
            .WithClientSecret("bench-secret")
            .WithOidcAuthority(Authority)
            .WithHttpClientFactory(new Factory(new HttpClient(endpoint)))
            .Build();

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        string path = request.RequestUri!.AbsolutePath;
        if (path.EndsWith("/.well-known/openid-configuration", StringComparison.Ordinal))
        {
            return Json($$"""{"issuer":"{{Authority.TrimEnd('/')}}","authorization_endpoint":"{{Authority}}authorize","token_endpoint":"{{Authority}}oauth/token","jwks_uri":"{{Authority}}keys","response_types_supported":["code"],"subject_types_supported":["public"],"id_token_signing_alg_values_supported":["RS256"]}""");
        }

        if (request.Method == HttpMethod.Post && path.EndsWith("/oauth/token", StringComparison.Ordinal))
        {
            int n = Interlocked.Increment(ref _tokenRequests);
            if (delay > TimeSpan.Zero)
            {
                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
            }

            return Json($$"""{"access_token":"bench-token-{{n}}","token_type":"Bearer","expires_in":18000}""");
        }

        return new HttpResponseMessage(HttpStatusCode.NotFound) { RequestMessage = request };

        HttpResponseMessage Json(string body) =>
            new(HttpStatusCode.OK) { Content = new StringContent(body, Encoding.UTF8, "application/json"), RequestMessage = request };
    }

    private sealed class Factory(HttpClient client) : IMsalHttpClientFactory
    {
        public HttpClient GetHttpClient() => client;
    }
}
