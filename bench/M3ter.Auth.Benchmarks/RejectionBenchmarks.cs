using System;
using System.Net;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;
using BenchmarkDotNet.Attributes;

namespace M3ter.Auth.Benchmarks;

/// <summary>
/// 6. A wrong secret under steady traffic: every call through <c>HttpClient</c> and <see cref="M3terAuthHandler"/>
/// fails at once from the remembered rejection (one token request in all). Each invocation makes <see cref="Calls"/>
/// calls on a fresh provider; the per-call cost must be flat, so 5,000 calls cost five times what 1,000 cost (a shared
/// exception whose stack trace grows with every rethrow made it quadratic).
/// </summary>
[MemoryDiagnoser]
public class RejectionBenchmarks
{
    private static readonly Uri Url = new("https://api.m3ter.com/organizations/org-1/products");
    private TokenProvider _provider = null!;
    private HttpClient _client = null!;
    private UnauthorizedEndpoint _endpoint = null!;

    [Params(1_000, 5_000)]
    public int Calls { get; set; }

    [IterationSetup]
    public void Setup()
    {
        M3terAuthOptions options = BenchOptions.Create();
        options.RejectedCredentialsCacheDuration = TimeSpan.FromHours(1);
        _endpoint = new UnauthorizedEndpoint();
        _provider = new TokenProvider(new TokenClient(new HttpClient(_endpoint), options, TimeProvider.System), options, TimeProvider.System);
        _client = new HttpClient(new M3terAuthHandler(_provider, options, timeProvider: TimeProvider.System) { InnerHandler = new CachedOkHandler() });
    }

    [IterationCleanup]
    public void Cleanup()
    {
        _client.Dispose();
        _provider.Dispose();
    }

    [Benchmark(Description = "calls failing from a remembered 401")]
    public async Task<int> RememberedRejection()
    {
        M3terAuthException? last = null;
        for (int i = 0; i < Calls; i++)
        {
            try
            {
                using HttpResponseMessage response = await _client.GetAsync(Url).ConfigureAwait(false);
                throw new InvalidOperationException("a request went out without a token");
            }
            catch (M3terAuthException ex)
            {
                last = ex;
            }
        }

        // What a log line of the last failure would hold: it must not have grown with the calls before it.
        int length = last!.ToString().Length;
        if (_endpoint.Calls != 1 || length > 10_000)
        {
            throw new InvalidOperationException($"{_endpoint.Calls} token requests; the last exception is {length} characters long");
        }

        return length;
    }

    private sealed class UnauthorizedEndpoint : HttpMessageHandler
    {
        private int _calls;

        public int Calls => Volatile.Read(ref _calls);

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _calls);
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.Unauthorized)
            {
                Content = new StringContent("{\"error\":\"invalid_client\",\"error_description\":\"Bad credentials\"}"),
            });
        }
    }
}
