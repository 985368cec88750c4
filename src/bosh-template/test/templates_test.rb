# frozen_string_literal: true

# Template tests of the release's jobs (jobs/locket, jobs/lock-holder,
# jobs/presence-agent): the documented property sets render every template,
# and every refused combination fails with a message naming the property.

require 'minitest/autorun'
require 'json'
require 'yaml'
require 'uri'
require 'open3'
require 'tmpdir'
require 'fileutils'
require_relative '../render'

module JobRendering
  REPO = File.expand_path('../../..', __dir__)
  JOBS = File.join(REPO, 'jobs')
  JOB_NAMES = %w[locket lock-holder presence-agent].freeze

  SPEC = {
    'id' => '6f1a0c1e-1d4e-4c59-9d37-0c2b3c4d5e6f', 'index' => 0, 'az' => 'z1',
    'address' => '10.244.0.10', 'ip' => '10.244.0.10', 'deployment' => 'locket',
    'name' => 'control', 'bootstrap' => true, 'networks' => { 'default' => { 'ip' => '10.244.0.10' } }
  }.freeze

  # Renders every template of a job; returns {rendered path => text}.
  def render_job(job, properties, spec: SPEC, links: {})
    out = Dir.mktmpdir('job')
    BoshTemplate.render_job(File.join(JOBS, job), { 'properties' => properties, 'spec' => spec, 'links' => links }, out)
    Dir.glob('**/*', base: out).select { |f| File.file?(File.join(out, f)) }
       .to_h { |f| [f, File.read(File.join(out, f))] }
  ensure
    FileUtils.rm_rf(out) if out
  end

  # The error message of rendering a refused combination.
  def render_error(job, properties, **kw)
    err = assert_raises(BoshTemplate::RenderError) { render_job(job, properties, **kw) }
    err.message
  end

  def deep_merge(a, b)
    a.merge(b) { |_, x, y| x.is_a?(Hash) && y.is_a?(Hash) ? deep_merge(x, y) : y }
  end

  # A locket link as the director builds it from the provider's properties.
  def locket_link(server_properties, address: 'q-s0.control.default.locket.bosh')
    {
      'locket' => {
        'properties' => BoshTemplate.link_properties(File.join(JOBS, 'locket'), 'locket', server_properties),
        'address' => address,
        'instances' => [{ 'address' => '10.244.0.10', 'id' => SPEC['id'], 'index' => 0, 'az' => 'z1',
                          'name' => 'control', 'bootstrap' => true }]
      }
    }
  end

  # `bosh int --vars-store` of a manifest with ops files, through scripts/bosh.
  def interpolate(manifest, ops, vars_store)
    args = [File.join(REPO, 'scripts/bosh'), 'int', manifest, '--vars-store', vars_store, '--var-errs']
    ops.each { |o| args += ['-o', o] }
    stdout, stderr, status = Open3.capture3(*args)
    raise "bosh int #{manifest} #{ops.join(' ')}: #{stderr}" unless status.success?

    YAML.safe_load(stdout, aliases: true)
  end
end

class LocketJobTest < Minitest::Test
  include JobRendering

  BASE = {
    'tls' => { 'ca_cert' => 'CA PEM', 'cert' => 'CERT PEM', 'key' => 'KEY PEM' },
    'diego' => { 'locket' => { 'sql' => {
      'db_host' => 'sql-db.service.cf.internal', 'db_port' => 3306, 'db_schema' => 'locket',
      'db_username' => 'locket', 'db_password' => 'secret-pw', 'db_driver' => 'mysql'
    } } }
  }.freeze

  def config(properties = {})
    JSON.parse(render_job('locket', deep_merge(BASE, properties))['config/locket.json'])
  end

  def sql(overrides)
    { 'diego' => { 'locket' => { 'sql' => overrides } } }
  end

  def test_renders_every_template
    files = render_job('locket', BASE)
    assert_equal %w[bin/locket_ctl bin/pre-start config/bpm.yml config/certs/ca.crt
                    config/certs/loggregator/ca.crt config/certs/loggregator/client.crt
                    config/certs/loggregator/client.key config/certs/server.crt config/certs/server.key
                    config/certs/sql/ca.crt config/locket.json config/prom_scraper_config.yml monit].sort,
                 files.keys.sort
    assert_equal "CA PEM\n", files['config/certs/ca.crt']
    assert_equal "CERT PEM\n", files['config/certs/server.crt']
    assert_equal "KEY PEM\n", files['config/certs/server.key']
  end

  def test_defaults_match_diego_release
    c = config
    assert_equal '0.0.0.0:8891', c['listen_address']
    assert_equal '127.0.0.1:17018', c['debug_address']
    assert_equal '127.0.0.1:17019', c['metrics_address']
    assert_equal 'info', c['log_level']
    assert_equal 'unix-epoch', c['time_format']
    assert_equal 'mysql', c['database_driver']
    assert_equal 'locket:secret-pw@tcp(sql-db.service.cf.internal:3306)/locket', c['database_connection_string']
    assert_equal 200, c['max_open_database_connections']
    assert_equal '1h', c['max_database_connection_lifetime']
    assert_equal '1m', c['report_interval']
    assert_equal false, c['enable_db_health_check']
    assert_equal '10s', c['health_check_interval']
    assert_equal '5s', c['health_check_timeout']
    assert_equal 3, c['health_check_failure_threshold']
    assert_equal '/var/vcap/jobs/locket/config/certs/ca.crt', c['ca_file']
    assert_equal '/var/vcap/jobs/locket/config/certs/server.crt', c['cert_file']
    assert_equal '/var/vcap/jobs/locket/config/certs/server.key', c['key_file']
    refute c.key?('sql_ca_cert_file')
    refute c.key?('loggregator')
    %w[db_connection_timeout db_read_timeout db_write_timeout db_operation_timeout].each { |k| refute c.key?(k) }
  end

  def test_every_spec_table_property_is_declared_with_its_default
    spec = YAML.safe_load(File.read(File.join(JOBS, 'locket/spec')))['properties']
    expected = {
      'bpm.enabled' => false, 'tls.ca_cert' => :none, 'tls.cert' => :none, 'tls.key' => :none,
      'diego.locket.listen_addr' => '0.0.0.0:8891', 'diego.locket.debug_addr' => '127.0.0.1:17018',
      'diego.locket.log_level' => 'info', 'diego.locket.sql.db_host' => '', 'diego.locket.sql.db_port' => '',
      'diego.locket.sql.db_schema' => '', 'diego.locket.sql.db_username' => '',
      'diego.locket.sql.db_password' => '', 'diego.locket.sql.db_driver' => 'mysql',
      'diego.locket.sql.require_ssl' => false, 'diego.locket.sql.ca_cert' => :none,
      'diego.locket.sql.db_connection_timeout' => :none, 'diego.locket.sql.db_read_timeout' => :none,
      'diego.locket.sql.db_write_timeout' => :none, 'diego.locket.sql.db_operation_timeout' => :none,
      'diego.locket.enable_db_health_check' => false, 'diego.locket.health_check_interval' => 10,
      'diego.locket.health_check_timeout' => 5, 'diego.locket.health_check_failure_threshold' => 3,
      'database.max_open_connections' => 200, 'database.tls.enable_identity_verification' => true,
      'logging.format.timestamp' => 'unix-epoch', 'loggregator.ca_cert' => :none, 'loggregator.cert' => :none,
      'loggregator.key' => :none, 'loggregator.v2_api_port' => 3458, 'set_kernel_parameters' => true,
      'diego.locket.metrics_addr' => '127.0.0.1:17019', 'diego.locket.authorization.rules' => [],
      'diego.locket.history_retention_hours' => 168
    }
    expected.each do |name, default|
      assert spec.key?(name), "#{name} is not declared"
      if default == :none
        refute spec[name].key?('default'), "#{name} should have no default"
      else
        assert_equal default, spec[name]['default'], "default of #{name}"
      end
    end
  end

  def test_optional_settings
    c = config(sql('db_connection_timeout' => 30, 'db_read_timeout' => 31, 'db_write_timeout' => 32,
                   'db_operation_timeout' => 33)
               .then { |h| deep_merge(h, 'diego' => { 'locket' => { 'enable_db_health_check' => true,
                                                                      'health_check_interval' => 7,
                                                                      'health_check_timeout' => 2,
                                                                      'health_check_failure_threshold' => 4,
                                                                      'log_level' => 'debug' } },
                                         'database' => { 'max_open_connections' => 50 },
                                         'logging' => { 'format' => { 'timestamp' => 'rfc3339' } }) })
    assert_equal %w[30s 31s 32s 33s], c.values_at('db_connection_timeout', 'db_read_timeout', 'db_write_timeout',
                                                  'db_operation_timeout')
    assert_equal [true, '7s', '2s', 4], c.values_at('enable_db_health_check', 'health_check_interval',
                                                     'health_check_timeout', 'health_check_failure_threshold')
    assert_equal 50, c['max_open_database_connections']
    assert_equal 'rfc3339', c['time_format']
    assert_equal 'debug', c['log_level']
  end

  def test_require_ssl_with_ca
    files = render_job('locket', deep_merge(BASE, sql('require_ssl' => true, 'ca_cert' => 'DB CA')))
    c = JSON.parse(files['config/locket.json'])
    assert_equal '/var/vcap/jobs/locket/config/certs/sql/ca.crt', c['sql_ca_cert_file']
    assert_equal true, c['sql_enable_identity_verification']
    assert_equal "DB CA\n", files['config/certs/sql/ca.crt']
    c = config(deep_merge(sql('require_ssl' => true, 'ca_cert' => 'DB CA'),
                          'database' => { 'tls' => { 'enable_identity_verification' => false } }))
    assert_equal false, c['sql_enable_identity_verification']
  end

  def test_postgres_url_escapes_credentials
    password = "p@ss:w/rd?#%& +x"
    c = config(sql('db_driver' => 'postgres', 'db_port' => 5524, 'db_username' => 'lock et', 'db_password' => password,
                   'db_schema' => 'locket'))
    assert_equal 'postgres', c['database_driver']
    url = URI.parse(c['database_connection_string'])
    assert_equal 'postgres', url.scheme
    assert_equal 'sql-db.service.cf.internal', url.host
    assert_equal 5524, url.port
    # Percent-decoding only ('+' stays '+'), as Go's net/url reads userinfo.
    unescape = ->(s) { s.gsub(/%(\h\h)/) { Regexp.last_match(1).hex.chr } }
    assert_equal 'lock et', unescape.call(url.user)
    assert_equal password, unescape.call(url.password)
    assert_equal '/locket', url.path
  end

  def test_mysql_dsn_keeps_any_password_readable
    # go-sql-driver takes the user up to the first ':' and the address after
    # the last '@' (before the last '/'), so the password needs no escaping.
    password = 'p@ss:w/rd?#%&)('
    c = config(sql('db_password' => password))
    dsn = c['database_connection_string']
    before_db = dsn[0...dsn.rindex('/')]
    userinfo = before_db[0...before_db.rindex('@')]
    assert_equal ['locket', password], userinfo.split(':', 2)
    assert_equal 'tcp(sql-db.service.cf.internal:3306)', before_db[(before_db.rindex('@') + 1)..]
    assert_equal 'locket', dsn[(dsn.rindex('/') + 1)..]
  end

  def test_ipv6_addresses
    c = config('diego' => { 'locket' => { 'listen_addr' => '[::]:8891',
                                          'sql' => { 'db_host' => 'fd00::5' } } })
    assert_equal '[::]:8891', c['listen_address']
    assert_equal 'locket:secret-pw@tcp([fd00::5]:3306)/locket', c['database_connection_string']
  end

  def test_loggregator_block_when_certs_given
    c = config('loggregator' => { 'ca_cert' => 'a', 'cert' => 'b', 'key' => 'c' })
    l = c['loggregator']
    assert_equal 3458, l['loggregator_api_port']
    assert_equal '/var/vcap/jobs/locket/config/certs/loggregator/ca.crt', l['loggregator_ca_path']
    assert_equal SPEC['id'], l['loggregator_instance_id']
    assert_equal 'locket', l['loggregator_source_id']
  end

  def test_authorization_rules_and_history_retention
    c = JSON.parse(render_job('locket', BASE)['config/locket.json'])
    refute c.key?('authorization')
    assert_equal '168h', c['history_retention']
    rules = [{ 'name' => 'cells', 'identity' => { 'ou' => ['cell'] }, 'types' => ['presence'] },
             { 'identity' => { 'cn' => ['bbs'] }, 'keys' => ['bbs'] }]
    c = JSON.parse(render_job('locket', deep_merge(BASE, 'diego' => { 'locket' => {
      'authorization' => { 'rules' => rules }, 'history_retention_hours' => 24 } }))['config/locket.json'])
    assert_equal({ 'rules' => rules }, c['authorization'])
    assert_equal '24h', c['history_retention']
    assert_raises(StandardError) do
      render_job('locket', deep_merge(BASE, 'diego' => { 'locket' => { 'authorization' => { 'rules' => 'x' } } }))
    end
  end

  def test_metrics_address_and_prom_scraper
    files = render_job('locket', BASE)
    scraper = YAML.safe_load(files['config/prom_scraper_config.yml'])
    assert_equal({ 'port' => 17019, 'source_id' => 'locket', 'instance_id' => SPEC['id'], 'scheme' => 'http',
                   'path' => '/metrics' }, scraper)
    files = render_job('locket', deep_merge(BASE, 'diego' => { 'locket' => { 'metrics_addr' => '0.0.0.0:9102' } }))
    assert_equal 9102, YAML.safe_load(files['config/prom_scraper_config.yml'])['port']
    assert_equal '0.0.0.0:9102', JSON.parse(files['config/locket.json'])['metrics_address']
    files = render_job('locket', deep_merge(BASE, 'diego' => { 'locket' => { 'metrics_addr' => '' } }))
    refute JSON.parse(files['config/locket.json']).key?('metrics_address')
    assert_nil YAML.safe_load(files['config/prom_scraper_config.yml'])
  end

  def test_empty_debug_address_disables_the_debug_server
    c = config('diego' => { 'locket' => { 'debug_addr' => '' } })
    assert_equal '', c['debug_address']
  end

  def test_monit_and_process_files_in_both_modes
    ctl = render_job('locket', BASE)
    assert_equal <<~MONIT, ctl['monit']
      check process locket
        with pidfile /var/vcap/sys/run/locket/locket.pid
        start program "/var/vcap/jobs/locket/bin/locket_ctl start"
        stop program "/var/vcap/jobs/locket/bin/locket_ctl stop"
        group vcap
    MONIT
    assert_includes ctl['bin/locket_ctl'], 'PROGRAM=/var/vcap/packages/locket/bin/locket'
    assert_includes ctl['bin/locket_ctl'], 'ARGS=(-config=/var/vcap/jobs/locket/config/locket.json)'
    assert_includes ctl['bin/locket_ctl'], 'OPEN_FILES=100000'
    bpm = render_job('locket', deep_merge(BASE, 'bpm' => { 'enabled' => true }))
    assert_equal <<~MONIT, bpm['monit']
      check process locket
        with pidfile /var/vcap/sys/run/bpm/locket/locket.pid
        start program "/var/vcap/jobs/bpm/bin/bpm start locket"
        stop program "/var/vcap/jobs/bpm/bin/bpm stop locket"
        group vcap
    MONIT
    proc = YAML.safe_load(bpm['config/bpm.yml'])['processes'].first
    assert_equal 'locket', proc['name']
    assert_equal '/var/vcap/packages/locket/bin/locket', proc['executable']
    assert_equal ['-config=/var/vcap/jobs/locket/config/locket.json'], proc['args']
    assert_equal 100_000, proc['limits']['open_files']
  end

  def test_pre_start_kernel_parameters
    on = render_job('locket', BASE)['bin/pre-start']
    assert_includes on, 'echo 10 > /proc/sys/net/ipv4/tcp_fin_timeout'
    assert_includes on, 'echo 1 > /proc/sys/net/ipv4/tcp_tw_reuse'
    off = render_job('locket', deep_merge(BASE, 'set_kernel_parameters' => false))['bin/pre-start']
    refute_includes off, '/proc/sys'
    [on, off].each do |script|
      _, err, status = Open3.capture3('bash', '-n', stdin_data: script)
      assert status.success?, err
    end
  end

  def test_provides_link_with_address_port_and_ca
    link = BoshTemplate.link_properties(File.join(JOBS, 'locket'), 'locket', BASE)
    assert_equal({ 'diego' => { 'locket' => { 'listen_addr' => '0.0.0.0:8891' } }, 'tls' => { 'ca_cert' => 'CA PEM' } },
                 link)
  end

  # The combinations diego-release refuses, and those it lets through.
  def test_refused_combinations
    refused = {
      'diego.locket.listen_addr must be IP:port' => { 'diego' => { 'locket' => { 'listen_addr' => 'locket.example.com:8891' } } },
      'diego.locket.listen_addr must be IP:port (e.g. 0.0.0.0:8891), got \'0.0.0.0\'' => { 'diego' => { 'locket' => { 'listen_addr' => '0.0.0.0' } } },
      'diego.locket.debug_addr must be IP:port' => { 'diego' => { 'locket' => { 'debug_addr' => 'localhost:17018' } } },
      'diego.locket.metrics_addr must be IP:port' => { 'diego' => { 'locket' => { 'metrics_addr' => '17019' } } },
      'diego.locket.sql is partly set: diego.locket.sql.db_password is missing' => sql('db_password' => ''),
      'diego.locket.sql is partly set: diego.locket.sql.db_host, diego.locket.sql.db_port are missing' =>
        sql('db_host' => '', 'db_port' => ''),
      "diego.locket.sql.db_driver must be 'mysql' or 'postgres', got 'sqlserver'" => sql('db_driver' => 'sqlserver'),
      "logging.format.timestamp must be 'unix-epoch' or 'rfc3339', got 'iso8601'" =>
        { 'logging' => { 'format' => { 'timestamp' => 'iso8601' } } },
      'diego.locket.sql is not set: diego.locket.sql.db_host, diego.locket.sql.db_port, diego.locket.sql.db_schema, ' \
      'diego.locket.sql.db_username, diego.locket.sql.db_password are required' =>
        sql('db_host' => '', 'db_port' => '', 'db_schema' => '', 'db_username' => '', 'db_password' => ''),
      'diego.locket.sql.require_ssl is true but diego.locket.sql.ca_cert is not set' => sql('require_ssl' => true),
      "diego.locket.sql.db_port must be a port number, got 'mysql'" => sql('db_port' => 'mysql'),
      "diego.locket.log_level must be one of debug, info, error, fatal, got 'warn'" =>
        { 'diego' => { 'locket' => { 'log_level' => 'warn' } } },
      "database.max_open_connections must be a whole number, got 'many'" => { 'database' => { 'max_open_connections' => 'many' } },
      "diego.locket.sql.db_read_timeout must be a whole number, got '5m'" => sql('db_read_timeout' => '5m'),
      "diego.locket.sql.db_username must not contain ':' with the mysql driver" => sql('db_username' => 'a:b'),
    }
    refused.each do |message, props|
      err = render_error('locket', deep_merge(BASE, props))
      assert_includes err, message, "for #{props.inspect}"
      assert_includes err, "'locket.json.erb'"
    end
  end

  def test_missing_tls_properties_are_named
    %w[ca_cert cert key].each do |k|
      props = Marshal.load(Marshal.dump(BASE))
      props['tls'].delete(k)
      assert_includes render_error('locket', props), "tls.#{k} must be set"
    end
  end

  def test_no_password_in_any_error
    props = deep_merge(BASE, sql('db_password' => 'Very$ecretPW', 'db_host' => ''))
    err = render_error('locket', props)
    assert_includes err, 'diego.locket.sql.db_host is missing'
    refute_includes err, 'Very$ecretPW'
  end
end

module ClientJobTests
  include JobRendering

  CLIENT = {
    'locket' => { 'api_location' => 'locket.service.cf.internal:8891', 'ca_cert' => 'LOCKET CA',
                  'client_cert' => 'CLIENT CERT', 'client_key' => 'CLIENT KEY' }
  }.freeze

  def client_config(properties, **kw)
    JSON.parse(render_job(job, properties, **kw)["config/#{job}.json"])
  end

  def test_client_keys_and_certificates
    files = render_job(job, CLIENT)
    c = JSON.parse(files["config/#{job}.json"])
    assert_equal 'locket.service.cf.internal:8891', c['locket_address']
    assert_equal "/var/vcap/jobs/#{job}/config/certs/locket/ca.crt", c['locket_ca_cert_file']
    assert_equal "/var/vcap/jobs/#{job}/config/certs/locket/client.crt", c['locket_client_cert_file']
    assert_equal "/var/vcap/jobs/#{job}/config/certs/locket/client.key", c['locket_client_key_file']
    assert_equal 10, c['locket_client_keepalive_time']
    assert_equal 22, c['locket_client_keepalive_timeout']
    assert_equal 'info', c['log_level']
    assert_equal 'unix-epoch', c['time_format']
    assert_equal "LOCKET CA\n", files['config/certs/locket/ca.crt']
    assert_equal "CLIENT CERT\n", files['config/certs/locket/client.crt']
    assert_equal "CLIENT KEY\n", files['config/certs/locket/client.key']
  end

  def test_locket_link_gives_address_port_and_ca
    server = deep_merge(LocketJobTest::BASE, 'diego' => { 'locket' => { 'listen_addr' => '0.0.0.0:9891' } })
    props = { 'locket' => { 'client_cert' => 'C', 'client_key' => 'K' } }
    files = render_job(job, props, links: locket_link(server))
    c = JSON.parse(files["config/#{job}.json"])
    assert_equal 'q-s0.control.default.locket.bosh:9891', c['locket_address']
    assert_equal "CA PEM\n", files['config/certs/locket/ca.crt']
    # The properties win over the link.
    c = client_config(CLIENT, links: locket_link(server))
    assert_equal 'locket.service.cf.internal:8891', c['locket_address']
  end

  def test_monit_and_process_files_in_both_modes
    ctl = render_job(job, CLIENT)
    assert_equal <<~MONIT, ctl['monit']
      check process #{job}
        with pidfile /var/vcap/sys/run/#{job}/#{job}.pid
        start program "/var/vcap/jobs/#{job}/bin/#{job}_ctl start"
        stop program "/var/vcap/jobs/#{job}/bin/#{job}_ctl stop"
        group vcap
    MONIT
    assert_includes ctl["bin/#{job}_ctl"], "PROGRAM=/var/vcap/packages/locket/bin/#{job}"
    assert_includes ctl["bin/#{job}_ctl"], "ARGS=(-config=/var/vcap/jobs/#{job}/config/#{job}.json)"
    bpm = render_job(job, deep_merge(CLIENT, 'bpm' => { 'enabled' => true }))
    assert_equal <<~MONIT, bpm['monit']
      check process #{job}
        with pidfile /var/vcap/sys/run/bpm/#{job}/#{job}.pid
        start program "/var/vcap/jobs/bpm/bin/bpm start #{job}"
        stop program "/var/vcap/jobs/bpm/bin/bpm stop #{job}"
        group vcap
    MONIT
    proc = YAML.safe_load(bpm['config/bpm.yml'])['processes'].first
    assert_equal [job, "/var/vcap/packages/locket/bin/#{job}", ["-config=/var/vcap/jobs/#{job}/config/#{job}.json"]],
                 proc.values_at('name', 'executable', 'args')
  end

  def test_refused_client_combinations
    refused = {
      'locket.api_location is not set and no locket link is consumed' =>
        { 'locket' => { 'ca_cert' => 'A', 'client_cert' => 'C', 'client_key' => 'K' } },
      "locket.api_location must be host:port, got 'locket.service.cf.internal'" =>
        deep_merge(CLIENT, 'locket' => { 'api_location' => 'locket.service.cf.internal' }),
      'locket.ca_cert is not set and no locket link provides tls.ca_cert' =>
        { 'locket' => { 'api_location' => 'l:1', 'client_cert' => 'C', 'client_key' => 'K' } },
      'locket.client_cert must be set' => { 'locket' => { 'api_location' => 'l:1', 'ca_cert' => 'A', 'client_key' => 'K' } },
      'locket.client_key must be set' => { 'locket' => { 'api_location' => 'l:1', 'ca_cert' => 'A', 'client_cert' => 'C' } },
      'locket.client_keepalive_time (30) must not be greater than locket.client_keepalive_timeout (22)' =>
        deep_merge(CLIENT, 'locket' => { 'client_keepalive_time' => 30 }),
      "logging.format.timestamp must be 'unix-epoch' or 'rfc3339', got 'local'" =>
        deep_merge(CLIENT, 'logging' => { 'format' => { 'timestamp' => 'local' } }),
    }
    refused.each do |message, props|
      assert_includes render_error(job, props), message, "for #{props.inspect}"
    end
  end
end

class LockHolderJobTest < Minitest::Test
  include ClientJobTests

  def job
    'lock-holder'
  end

  def test_lock_holder_keys
    c = client_config(CLIENT)
    assert_equal 'bbs', c['key']
    assert_equal SPEC['id'], c['owner']
    assert_equal 'lock-holder', c['component']
    assert_equal 15, c['ttl_in_seconds']
    assert_equal '5s', c['retry_interval']
    assert_equal [], c['command']
    assert_equal '5s', c['work_interval']
    c = client_config(deep_merge(CLIENT, 'lock_holder' => { 'key' => 'auctioneer', 'component' => 'bbs',
                                                            'ttl_in_seconds' => 20, 'retry_interval' => 2,
                                                            'command' => ['/bin/sleep', '100'], 'log_level' => 'debug' },
                                         'logging' => { 'format' => { 'timestamp' => 'rfc3339' } }))
    assert_equal ['auctioneer', 'bbs', 20, '2s', ['/bin/sleep', '100'], 'debug', 'rfc3339'],
                 c.values_at('key', 'component', 'ttl_in_seconds', 'retry_interval', 'command', 'log_level', 'time_format')
  end

  def test_lock_holder_refusals
    assert_includes render_error(job, deep_merge(CLIENT, 'lock_holder' => { 'key' => '' })), 'lock_holder.key must not be empty'
    assert_includes render_error(job, deep_merge(CLIENT, 'lock_holder' => { 'command' => 'sleep 1' })),
                    'lock_holder.command must be a list of strings'
    assert_includes render_error(job, deep_merge(CLIENT, 'lock_holder' => { 'ttl_in_seconds' => 0 })),
                    'lock_holder.ttl_in_seconds must be at least 1'
    assert_includes render_error(job, deep_merge(CLIENT, 'lock_holder' => { 'start_delay' => '1m' })),
                    "lock_holder.start_delay must be a whole number of seconds, got '1m'"
  end

  def test_start_delay_in_the_ctl_script
    assert_includes render_job(job, CLIENT)["bin/#{job}_ctl"], '(sleep 0; as_vcap "$PROGRAM"'
    ctl = render_job(job, deep_merge(CLIENT, 'lock_holder' => { 'start_delay' => 7 }))["bin/#{job}_ctl"]
    assert_includes ctl, '(sleep 7; as_vcap "$PROGRAM"'
  end

  def test_drain_uses_the_pid_file_of_the_mode
    ctl = render_job(job, CLIENT)['bin/drain']
    assert_includes ctl, 'PIDFILE=/var/vcap/sys/run/$JOB/$JOB.pid'
    bpm = render_job(job, deep_merge(CLIENT, 'bpm' => { 'enabled' => true }))['bin/drain']
    assert_includes bpm, 'PIDFILE=/var/vcap/sys/run/bpm/$JOB/$JOB.pid'
    [ctl, bpm].each do |script|
      assert_includes script, '"$MONIT" unmonitor "$JOB"'
      assert_includes script, 'kill -TERM "$pid"'
      assert_match(/^echo 0 >&3$/, script)
      _, err, status = Open3.capture3('bash', '-n', stdin_data: script)
      assert status.success?, err
    end
  end
end

class PresenceAgentJobTest < Minitest::Test
  include ClientJobTests

  def job
    'presence-agent'
  end

  def test_presence_keys
    c = client_config(CLIENT)
    assert_equal SPEC['id'], c['cell_id']
    assert_equal 'z1', c['zone']
    refute c.key?('owner'), 'a new owner at every start'
    assert_equal 'http://10.244.0.10:1800', c['rep_address']
    assert_equal "https://#{SPEC['id']}.cell.service.cf.internal:1801", c['rep_url']
    assert_equal({ 'memory_mb' => 0, 'disk_mb' => 0, 'containers' => 0 }, c['capacity'])
    assert_equal [], c['rootfs_provider_list']
    assert_equal [15, '5s', 'presence-agent'], c.values_at('ttl_in_seconds', 'retry_interval', 'component')
    c = client_config(deep_merge(CLIENT, 'presence_agent' => {
                                   'component' => 'rep', 'rep_address' => 'http://cell:1800', 'rep_url' => 'https://c:1801',
                                   'capacity' => { 'memory_mb' => 8192, 'disk_mb' => 1024, 'containers' => 250 },
                                   'rootfs_provider_list' => [{ 'name' => 'preloaded', 'properties' => ['cflinuxfs4'] }]
                                 }), spec: SPEC.merge('az' => 'z2'))
    assert_equal 'z2', c['zone']
    assert_equal ['rep', 'http://cell:1800', 'https://c:1801'], c.values_at('component', 'rep_address', 'rep_url')
    assert_equal({ 'memory_mb' => 8192, 'disk_mb' => 1024, 'containers' => 250 }, c['capacity'])
    assert_equal [{ 'name' => 'preloaded', 'properties' => ['cflinuxfs4'] }], c['rootfs_provider_list']
  end

  def test_presence_refusals
    assert_includes render_error(job, deep_merge(CLIENT, 'presence_agent' => { 'rootfs_provider_list' => ['x'] })),
                    'presence_agent.rootfs_provider_list must be a list of {name, properties}'
    assert_includes render_error(job, deep_merge(CLIENT, 'presence_agent' => { 'capacity' => { 'memory_mb' => 'lots' } })),
                    "presence_agent.capacity.memory_mb must be a whole number, got 'lots'"
  end
end

# The example manifests, with every ops file, render every template of every
# job of this release they use (links wired as the director would).
class ManifestRenderTest < Minitest::Test
  include JobRendering

  MANIFESTS = File.join(REPO, 'manifests')

  def setup
    @tmp = Dir.mktmpdir('manifests')
  end

  def teardown
    FileUtils.rm_rf(@tmp)
  end

  def render_deployment(manifest)
    groups = manifest['instance_groups']
    jobs = groups.flat_map { |g| g['jobs'].map { |j| [g, j] } }
    server = jobs.find { |_, j| j['name'] == 'locket' && j['release'] == 'locket' }
    rendered = []
    jobs.each do |group, job|
      next unless job['release'] == 'locket'

      links = {}
      if server && %w[lock-holder presence-agent].include?(job['name'])
        links = locket_link(server[1]['properties'] || {},
                            address: "q-s0.#{server[0]['name']}.default.#{manifest['name']}.bosh")
      end
      spec = SPEC.merge('name' => group['name'], 'az' => group['azs'].first, 'deployment' => manifest['name'])
      files = render_job(job['name'], job['properties'] || {}, spec: spec, links: links)
      assert files.key?('monit')
      rendered << [job['name'], files]
    end
    rendered
  end

  def test_standalone_manifest_with_each_ops_file
    ops_files = Dir.glob(File.join(MANIFESTS, 'operations', '*.yml')).sort
    refute_empty ops_files
    ([[]] + ops_files.map { |o| [o] } + [ops_files]).each do |ops|
      manifest = interpolate(File.join(MANIFESTS, 'locket.yml'), ops, File.join(@tmp, 'vars.yml'))
      rendered = render_deployment(manifest)
      assert_equal %w[lock-holder locket presence-agent], rendered.map(&:first).sort, ops.inspect
      locket = JSON.parse(rendered.find { |n, _| n == 'locket' }[1]['config/locket.json'])
      assert_equal manifest.dig('instance_groups', 1, 'jobs', 0, 'properties', 'diego', 'locket', 'sql', 'db_driver'),
                   locket['database_driver']
      if ops.any? { |o| o.end_with?('use-postgres.yml') }
        assert_match(%r{\Apostgres://locket:[^@]+@sql-db\.service\.cf\.internal:5524/locket\z}, locket['database_connection_string'])
      end
      assert_equal 'rfc3339', locket['time_format'] if ops.any? { |o| o.end_with?('rfc3339-timestamps.yml') }
    end
  end

  def test_cf_deployment_locket_job_swapped_for_ours
    fixture = File.join(__dir__, 'fixtures', 'cf-deployment-diego-api.yml')
    before = interpolate(fixture, [], File.join(@tmp, 'cf-vars.yml'))
    after = interpolate(fixture, [File.join(MANIFESTS, 'operations', 'cf-deployment', 'use-locket-release.yml')],
                        File.join(@tmp, 'cf-vars.yml'))
    job_before = before['instance_groups'][0]['jobs'].find { |j| j['name'] == 'locket' }
    job_after = after['instance_groups'][0]['jobs'].find { |j| j['name'] == 'locket' }
    assert_equal 'diego', job_before['release']
    assert_equal 'locket', job_after['release']
    assert_equal job_before['properties'], job_after['properties'], 'no property changes'
    assert(after['releases'].any? { |r| r['name'] == 'locket' })
    files = render_deployment(after).to_h['locket']
    c = JSON.parse(files['config/locket.json'])
    assert_equal 'rfc3339', c['time_format']
    assert_match(%r{\Alocket:[^@]+@tcp\(sql-db\.service\.cf\.internal:3306\)/locket\z}, c['database_connection_string'])
    assert_equal '/var/vcap/sys/run/bpm/locket/locket.pid', files['monit'][/pidfile (\S+)/, 1]
    assert c.key?('loggregator')
  end
end
