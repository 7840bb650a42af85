package blob

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"gocloud.dev/blob"
	"gocloud.dev/blob/s3blob"
)

// S3 retries: every call is attempted at most s3MaxAttempts times, with
// exponential backoff and jitter (see backoff), or after the server's
// Retry-After when it sends one.
const s3MaxAttempts = 5

// openS3 opens s3://bucket?… with drsctl's own SDK configuration rather than
// gocloud.dev's URL opener, which cannot set the HTTP client, the retryer or
// the instance metadata policy. It accepts the same query parameters as
// gocloud.dev's opener (region, endpoint, use_path_style / s3ForcePathStyle,
// disable_https, profile, anonymous, role, dualstack, fips, accelerate,
// ssetype, kmskeyid, rate_limiter_capacity, request_checksum_calculation,
// response_checksum_validation, hostname_immutable, awssdk).
//
// The EC2 instance metadata service (IMDS) is not used unless the
// environment asks for it — AWS_EC2_METADATA_DISABLED=false, or a profile
// with credential_source = Ec2InstanceMetadata: elsewhere than on EC2 the
// SDK's last-resort probe of 169.254.169.254 costs every run a timeout and
// prints "falling back to IMDSv1" to stderr (cron mail, CI logs). Credentials
// from the environment, a profile, SSO, a credential process, web identity
// or a container endpoint are used as the SDK always does; with none of
// them, calls fail with an error saying what to set.
func openS3(ctx context.Context, u *url.URL, stall time.Duration) (*blob.Bucket, error) {
	var (
		loadOpts   []func(*config.LoadOptions) error
		s3Opts     []func(*s3.Options)
		bucketOpts s3blob.Options
		endpoint   string
		roleARN    string
		rateLimit  int64
	)
	for param, values := range u.Query() {
		v := values[0]
		bad := func(err error) error { return fmt.Errorf("invalid value for %s: %w", param, err) }
		switch param {
		case "region":
			loadOpts = append(loadOpts, config.WithRegion(v))
		case "endpoint":
			endpoint = v
		case "profile":
			loadOpts = append(loadOpts, config.WithSharedConfigProfile(v))
		case "use_path_style", "s3ForcePathStyle", "hostname_immutable":
			// hostname_immutable (gocloud.dev's, with endpoint) means the
			// request goes to the endpoint's host as given: path style.
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, bad(err)
			}
			s3Opts = append(s3Opts, func(o *s3.Options) { o.UsePathStyle = o.UsePathStyle || b })
		case "disable_https":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, bad(err)
			}
			s3Opts = append(s3Opts, func(o *s3.Options) { o.EndpointOptions.DisableHTTPS = b })
		case "anonymous":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, bad(err)
			}
			if b {
				loadOpts = append(loadOpts, config.WithCredentialsProvider(aws.AnonymousCredentials{}))
			}
		case "role":
			if !strings.HasPrefix(v, "arn:") {
				return nil, fmt.Errorf("invalid value for role: not an ARN (arn:…)")
			}
			roleARN = v
		case "dualstack", "fips", "accelerate":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, bad(err)
			}
			switch {
			case !b:
			case param == "dualstack":
				loadOpts = append(loadOpts, config.WithUseDualStackEndpoint(aws.DualStackEndpointStateEnabled))
			case param == "fips":
				loadOpts = append(loadOpts, config.WithUseFIPSEndpoint(aws.FIPSEndpointStateEnabled))
			default:
				s3Opts = append(s3Opts, func(o *s3.Options) { o.UseAccelerate = true })
			}
		case "ssetype":
			i := slices.IndexFunc(s3types.ServerSideEncryptionAes256.Values(), func(t s3types.ServerSideEncryption) bool { return strings.EqualFold(string(t), v) })
			if i < 0 {
				return nil, fmt.Errorf("invalid value for ssetype: %q", v)
			}
			bucketOpts.EncryptionType = s3types.ServerSideEncryptionAes256.Values()[i]
		case "kmskeyid":
			bucketOpts.KMSEncryptionID = v
		case "rate_limiter_capacity":
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil {
				return nil, bad(err)
			}
			rateLimit = n
		case "request_checksum_calculation":
			switch strings.ToLower(v) {
			case "when_supported":
				loadOpts = append(loadOpts, config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenSupported))
			case "when_required":
				loadOpts = append(loadOpts, config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired))
			default:
				return nil, fmt.Errorf("invalid value for %s: %q (when_supported or when_required)", param, v)
			}
		case "response_checksum_validation":
			switch strings.ToLower(v) {
			case "when_supported":
				loadOpts = append(loadOpts, config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenSupported))
			case "when_required":
				loadOpts = append(loadOpts, config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired))
			default:
				return nil, fmt.Errorf("invalid value for %s: %q (when_supported or when_required)", param, v)
			}
		case "awssdk":
			// gocloud.dev's SDK version switch: v2 is the only one.
		default:
			return nil, fmt.Errorf("unknown query parameter %q", param)
		}
	}

	// The SDK's own read timeout (gated in some SDK versions) only counts
	// reads, so a long upload would trip it: 0 turns it off in favour of
	// stallConn, which counts both directions.
	httpClient := awshttp.NewBuildableClient().
		WithReadTimeout(0).
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = dialTimeout }).
		WithTransportOptions(func(tr *http.Transport) {
			tr.DialContext = stallDialer(tr.DialContext, stall)
			tr.TLSHandshakeTimeout = tlsHandshakeTimeout
			tr.IdleConnTimeout = idleConnTimeout(stall)
			tr.WriteBufferSize, tr.ReadBufferSize = 64<<10, 64<<10
		})
	var limiter retry.RateLimiter = ratelimit.None
	if rateLimit > 0 {
		limiter = ratelimit.NewTokenRateLimit(uint(rateLimit))
	}
	loadOpts = append(loadOpts,
		config.WithHTTPClient(httpClient),
		config.WithRetryer(func() aws.Retryer {
			return &s3Retryer{retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = s3MaxAttempts
				o.RateLimiter = limiter
				o.Backoff = backoffFunc(func(attempt int, _ error) (time.Duration, error) { return backoff(attempt), nil })
			})}
		}))

	cfg, err := loadAWSConfig(ctx, loadOpts)
	if err != nil {
		return nil, err
	}
	if roleARN != "" {
		if cfg.Region == "" {
			return nil, errors.New("role: a region is needed to assume a role (region=… or AWS_REGION)")
		}
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), roleARN))
	}
	if endpoint != "" {
		s3Opts = append(s3Opts, func(o *s3.Options) { o.BaseEndpoint = aws.String(endpoint) })
	}
	client := s3.NewFromConfig(cfg, s3Opts...)
	// The transfer manager takes the checksum setting from the bucket, not
	// the client (see s3blob.Options).
	bucketOpts.RequestChecksumCalculation = cfg.RequestChecksumCalculation
	return s3blob.OpenBucket(ctx, client, u.Host, &bucketOpts)
}

// loadAWSConfig loads the SDK's configuration (environment, shared files)
// with the instance metadata service off unless the environment asks for it.
func loadAWSConfig(ctx context.Context, opts []func(*config.LoadOptions) error) (aws.Config, error) {
	if strings.EqualFold(os.Getenv("AWS_EC2_METADATA_DISABLED"), "false") {
		// Asked for explicitly: the SDK's defaults, IMDS included.
		return config.LoadDefaultConfig(ctx, opts...)
	}
	cfg, err := config.LoadDefaultConfig(ctx, append(slices.Clip(opts), config.WithEC2IMDSClientEnableState(imds.ClientDisabled))...)
	if err != nil {
		return cfg, err
	}
	src, ok := cfg.Credentials.(aws.CredentialProviderSource)
	if !ok {
		return cfg, nil
	}
	sources := src.ProviderSources()
	if !slices.Contains(sources, aws.CredentialSourceIMDS) {
		return cfg, nil
	}
	if slices.Contains(sources, aws.CredentialSourceProfileNamedProvider) {
		// credential_source = Ec2InstanceMetadata in the profile: asked for.
		return config.LoadDefaultConfig(ctx, opts...)
	}
	// The chain found nothing and fell back to IMDS: say what to set
	// instead of probing.
	cfg.Credentials = noCredentials{}
	return cfg, nil
}

// noCredentials is the credentials provider when the environment offers none.
type noCredentials struct{}

func (noCredentials) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials{}, errors.New("no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, " +
		"or AWS_PROFILE (keys, SSO, credential_process, role), or web identity or container credentials; " +
		"on EC2, AWS_EC2_METADATA_DISABLED=false uses the instance role")
}

// s3Retryer is the SDK's standard retryer (500, 502, 503, 504, throttling
// such as 503 SlowDown, connection errors, stalls), waiting what the server
// asks in Retry-After when it says.
type s3Retryer struct{ *retry.Standard }

func (r *s3Retryer) RetryDelay(attempt int, err error) (time.Duration, error) {
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		if d, ok := parseRetryAfter(re.Response.Header.Get("Retry-After"), time.Now()); ok {
			if d > maxRetryAfter {
				return 0, fmt.Errorf("the server asks to retry after %v, more than %v: giving up", d, maxRetryAfter)
			}
			return d, nil
		}
	}
	return r.Standard.RetryDelay(attempt, err)
}

type backoffFunc func(attempt int, err error) (time.Duration, error)

func (f backoffFunc) BackoffDelay(attempt int, err error) (time.Duration, error) {
	return f(attempt, err)
}
