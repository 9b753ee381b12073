using System;
using System.Globalization;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth.Internal;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace M3ter.Auth;

// The resilience pipeline: which outcomes are retried, with what back-off and timeout, and how a failure is described.
public sealed partial class TokenClient
{
    /// <summary>The retries and per-attempt timeout of <paramref name="options"/>' token settings (nothing else of them is read).</summary>
    internal static ResiliencePipeline<TokenAttempt> BuildPipeline(M3terAuthOptions options, TimeProvider timeProvider, ILogger logger)
    {
        var builder = new ResiliencePipelineBuilder<TokenAttempt>();
        if (options.MaxRetryAttempts > 0)
        {
            builder.AddRetry(new RetryStrategyOptions<TokenAttempt>
            {
                MaxRetryAttempts = options.MaxRetryAttempts,
                ShouldHandle = static args => new ValueTask<bool>(IsTransient(args.Outcome, args.Context.CancellationToken)),
                DelayGenerator = args =>
                {
                    TimeSpan delay = args.Outcome.Result?.RetryAfter
                        ?? RetryDelays.Backoff(options.RetryDelay, args.AttemptNumber, Jitter.NextDouble());
                    return new ValueTask<TimeSpan?>(delay);
                },
                OnRetry = args =>
                {
                    Log.TokenRequestRetrying(logger, args.RetryDelay, args.AttemptNumber + 1, DescribeOutcome(args.Outcome));
                    return default;
                },
            });
        }

        builder.AddTimeout(options.TokenRequestTimeout);
        return builder.Build();
    }

    private static bool IsTransient(Outcome<TokenAttempt> outcome, CancellationToken callerToken)
    {
        if (outcome.Result is TokenAttempt attempt)
        {
            return attempt.IsTransient && !(attempt.RetryAfter > RetryDelays.MaxHonouredRetryAfter);
        }

        // Network failures, our own per-attempt timeout and HttpClient.Timeout; never the caller's cancellation.
        return outcome.Exception is HttpRequestException or TimeoutRejectedException or System.IO.IOException
            || (outcome.Exception is OperationCanceledException && !callerToken.IsCancellationRequested);
    }

    private static string DescribeOutcome(Outcome<TokenAttempt> outcome) =>
        outcome.Result?.Failure?.Message ?? outcome.Exception?.GetType().Name + ": " + outcome.Exception?.Message;

    private M3terAuthException DescribeException(Exception exception) => exception switch
    {
        TimeoutRejectedException or OperationCanceledException => new M3terAuthException(
            string.Format(CultureInfo.InvariantCulture, "m3ter's token endpoint {0} did not answer within {1} (TokenRequestTimeout), {2} attempt(s).", _tokenEndpoint, RetryDelays.Describe(_options.TokenRequestTimeout), _options.MaxRetryAttempts + 1),
            null,
            null,
            null,
            exception),
        HttpRequestException or System.IO.IOException => new M3terAuthException(
            string.Format(CultureInfo.InvariantCulture, "m3ter's token endpoint {0} could not be reached ({1} attempt(s)): {2}", _tokenEndpoint, _options.MaxRetryAttempts + 1, exception.Message),
            null,
            null,
            null,
            exception),
        M3terAuthException auth => auth,
        _ => new M3terAuthException(
            string.Format(CultureInfo.InvariantCulture, "Requesting an m3ter token from {0} failed: {1}", _tokenEndpoint, exception.GetType().Name),
            null,
            null,
            null,
            exception),
    };
}
